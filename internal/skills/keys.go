package skills

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const (
	secretKeyPrefix = "TALON-SKILL-SECRET-KEY-1:"
	publicKeyPrefix = "ed25519:"
)

// GenerateKey makes a publisher (or registry) key pair.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("skills.GenerateKey: %w", err)
	}
	return priv, nil
}

// EncodeSecretKey is the text form of a secret key (its seed), for a key
// file written 0600.
func EncodeSecretKey(k ed25519.PrivateKey) string {
	return secretKeyPrefix + base64.RawURLEncoding.EncodeToString(k.Seed()) + "\n"
}

// DecodeSecretKey reads EncodeSecretKey's text.
func DecodeSecretKey(s string) (ed25519.PrivateKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), secretKeyPrefix)
	if !ok {
		return nil, errors.New("not a Talon skill secret key (make one with talon skills keygen)")
	}
	seed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("the secret key is damaged (bad base64 or length)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// EncodePublicKey is the text form of a public key: "ed25519:" and base64.
func EncodePublicKey(k ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// DecodePublicKey reads EncodePublicKey's text.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), publicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("public key %q does not start with %q", short(s), publicKeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q is damaged (bad base64 or length)", short(s))
	}
	return ed25519.PublicKey(b), nil
}

// PublicKeyOf returns the text form of k's public key.
func PublicKeyOf(k ed25519.PrivateKey) string { return EncodePublicKey(k.Public().(ed25519.PublicKey)) }

func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

func sign(k ed25519.PrivateKey, msg string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, []byte(msg)))
}

func verifySig(pub, msg, sig string) error {
	k, err := DecodePublicKey(pub)
	if err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(k, []byte(msg), b) {
		return ErrBadSignature
	}
	return nil
}

// ErrBadSignature is returned for a signature that does not verify.
var ErrBadSignature = errors.New("signature does not verify")
