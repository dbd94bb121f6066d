package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Key roles. A root key is kept offline and only signs signing-key bundles;
// a signing key signs manifests and can be rotated by publishing a new
// bundle, without a new binary.
const (
	RoleRoot    = "root"
	RoleSigning = "signing"
)

// linkedRootKeys holds the release root public keys trusted by this binary,
// comma-separated standard base64, set only at link time:
//
//	-ldflags "-X github.com/talonclaw/talon/internal/release.linkedRootKeys=KEY1,KEY2"
//
// `make release` passes RELEASE_ROOT_KEYS here; test builds pass their own
// throwaway roots. Nothing assigns it at run time. An empty value (a plain
// `go build`) trusts no root, so such a binary refuses every update.
var linkedRootKeys string

// RootKeys returns the root public keys compiled into this binary.
func RootKeys() ([]ed25519.PublicKey, error) {
	return ParsePublicKeys(linkedRootKeys)
}

// ParsePublicKeys parses a comma- or whitespace-separated list of base64
// ed25519 public keys.
func ParsePublicKeys(s string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// ParsePublicKey parses one base64 ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("release: %q is not a base64 ed25519 public key (32 bytes)", abbrev(s))
	}
	return ed25519.PublicKey(b), nil
}

// EncodePublicKey is the text form of a public key (standard base64).
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(k ed25519.PublicKey) string {
	s := sha256.Sum256(k)
	return hex.EncodeToString(s[:8])
}

// SecretKey is a role-tagged ed25519 private key as stored in a key file.
type SecretKey struct {
	Role string
	Key  ed25519.PrivateKey
}

// Public returns the key's public half.
func (k SecretKey) Public() ed25519.PublicKey { return k.Key.Public().(ed25519.PublicKey) }

type secretKeyFile struct {
	Kind      string `json:"kind"`
	Role      string `json:"role"`
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
	Seed      string `json:"seed"`
}

const secretKeyKind = "talon-release-secret-key-v1"

// GenerateKey makes a new key of the given role.
func GenerateKey(role string) (SecretKey, error) {
	if role != RoleRoot && role != RoleSigning {
		return SecretKey{}, fmt.Errorf("release.GenerateKey: role %q is not root or signing", role)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SecretKey{}, fmt.Errorf("release.GenerateKey: %w", err)
	}
	return SecretKey{Role: role, Key: priv}, nil
}

// MarshalSecretKey encodes k as a key file (JSON; keep it 0600 and offline).
func MarshalSecretKey(k SecretKey) []byte {
	b, _ := json.MarshalIndent(secretKeyFile{
		Kind: secretKeyKind, Role: k.Role, KeyID: KeyID(k.Public()),
		PublicKey: EncodePublicKey(k.Public()),
		Seed:      base64.StdEncoding.EncodeToString(k.Key.Seed()),
	}, "", "  ")
	return append(b, '\n')
}

// ParseSecretKey decodes a key file written by MarshalSecretKey.
func ParseSecretKey(b []byte) (SecretKey, error) {
	var f secretKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Kind != secretKeyKind {
		return SecretKey{}, errors.New("not a talon release secret key file (hint: make one with talon release keygen)")
	}
	seed, err := base64.StdEncoding.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return SecretKey{}, errors.New("release secret key file: bad seed")
	}
	k := SecretKey{Role: f.Role, Key: ed25519.NewKeyFromSeed(seed)}
	if f.Role != RoleRoot && f.Role != RoleSigning {
		return SecretKey{}, fmt.Errorf("release secret key file: role %q is not root or signing", f.Role)
	}
	if f.PublicKey != "" && f.PublicKey != EncodePublicKey(k.Public()) {
		return SecretKey{}, errors.New("release secret key file: public key does not match the seed")
	}
	return k, nil
}

// ReadSecretKey reads a key file and checks it has the wanted role, so a
// root key is never used to sign a manifest by mistake (and the reverse).
func ReadSecretKey(path, role string) (SecretKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return SecretKey{}, fmt.Errorf("reading key: %w", err)
	}
	k, err := ParseSecretKey(b)
	if err != nil {
		return SecretKey{}, fmt.Errorf("%s: %w", path, err)
	}
	if k.Role != role {
		return SecretKey{}, fmt.Errorf("%s is a %s key; this step needs a %s key", path, k.Role, role)
	}
	return k, nil
}

func abbrev(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// linkedManifestURL is where `talon update` looks for manifest.json when
// neither --manifest-url nor TALON_UPDATE_MANIFEST_URL says otherwise; set
// at link time like linkedRootKeys (make release RELEASE_MANIFEST_URL=…).
var linkedManifestURL string

// DefaultManifestURL is the manifest URL compiled into this binary, if any.
func DefaultManifestURL() string { return linkedManifestURL }
