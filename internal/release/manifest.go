package release

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Product is the only product a Talon manifest may name.
const Product = "talon"

// Signing purposes. Each signature covers
//
//	"talon-release-v1\x00" + purpose + "\x00" + payload
//
// so a signature over a key bundle can never pass as one over a manifest,
// nor either as a signature made for another program with the same key.
const (
	PurposeSigningKeys = "signing-keys"
	PurposeManifest    = "manifest"
)

// ClockSkew is how far in the future an issuedAt may lie (a publisher's
// clock slightly ahead of ours) before a manifest is refused.
const ClockSkew = time.Hour

// Errors a caller (and a test) can branch on. Each comes wrapped in a
// message that says what was seen.
var (
	ErrUnsigned       = errors.New("release: not signed")
	ErrUntrustedChain = errors.New("release: signing keys not signed by a trusted root key")
	ErrBadSignature   = errors.New("release: manifest not signed by a trusted signing key")
	ErrExpired        = errors.New("release: manifest expired")
	ErrNotYetValid    = errors.New("release: manifest issued in the future")
	ErrDowngrade      = errors.New("release: downgrade refused")
	ErrMalformed      = errors.New("release: malformed manifest")
	ErrNoRootKeys     = errors.New("release: this build trusts no release root key")
)

// Signed is a payload with its signatures. The payload is kept as the exact
// bytes that were signed (base64 in JSON), and only decoded after a
// signature over those bytes has been checked.
type Signed struct {
	Payload    []byte      `json:"payload"`
	Signatures []Signature `json:"signatures"`
}

// Signature is one ed25519 signature by the key with KeyID.
type Signature struct {
	KeyID string `json:"keyId"`
	Sig   []byte `json:"sig"`
}

// SignedMessage is the byte string a signature for purpose covers.
func SignedMessage(purpose string, payload []byte) []byte {
	m := make([]byte, 0, len("talon-release-v1")+len(purpose)+len(payload)+2)
	m = append(m, "talon-release-v1\x00"...)
	m = append(m, purpose...)
	m = append(m, 0)
	return append(m, payload...)
}

// Sign adds k's signature over s.Payload for purpose.
func (s *Signed) Sign(purpose string, k SecretKey) {
	s.Signatures = append(s.Signatures, Signature{KeyID: KeyID(k.Public()), Sig: ed25519.Sign(k.Key, SignedMessage(purpose, s.Payload))})
}

// verifiedBy returns the first of keys that made a valid signature over
// s.Payload for purpose, or false.
func (s *Signed) verifiedBy(purpose string, keys []ed25519.PublicKey) (ed25519.PublicKey, bool) {
	msg := SignedMessage(purpose, s.Payload)
	for _, sig := range s.Signatures {
		for _, k := range keys {
			if sig.KeyID == KeyID(k) && ed25519.Verify(k, msg, sig.Sig) {
				return k, true
			}
		}
	}
	return nil, false
}

// SigningKeys is the payload a root key signs: the keys that may sign
// manifests. Publishing a new bundle rotates them.
type SigningKeys struct {
	Keys     []SigningKey `json:"keys"`
	IssuedAt time.Time    `json:"issuedAt"`
}

// SigningKey is one manifest-signing public key; after NotAfter (if set) it
// signs nothing that is accepted.
type SigningKey struct {
	KeyID     string     `json:"keyId"`
	PublicKey string     `json:"publicKey"`
	NotAfter  *time.Time `json:"notAfter,omitempty"`
}

// Manifest describes one release.
type Manifest struct {
	Product string `json:"product"`
	Version string `json:"version"`
	Channel string `json:"channel"`
	// MinimumVersion is the oldest release the publisher still considers
	// safe: `talon update --check` tells an install below it to update now,
	// and no manifest may offer a version below its own minimum.
	MinimumVersion string    `json:"minimumVersion,omitempty"`
	IssuedAt       time.Time `json:"issuedAt"`
	// ExpiresAt bounds how long a manifest is believed: a feed frozen by
	// an attacker (who replays an old manifest to hide a fix) stops
	// working at this time.
	ExpiresAt time.Time `json:"expiresAt"`
	// Artifacts by "GOOS/GOARCH".
	Artifacts map[string]Artifact `json:"artifacts"`
	// VulnDB names the vulnerability database the release was checked
	// against, when it ships one.
	VulnDB *VulnDBInfo `json:"vulnDb,omitempty"`
}

// Artifact is one platform's binary: a file name relative to the manifest,
// its SHA-256 and its size, and its SBOM.
type Artifact struct {
	File       string `json:"file"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	SBOM       string `json:"sbom,omitempty"`
	SBOMSHA256 string `json:"sbomSha256,omitempty"`
}

// VulnDBInfo describes the vulnerability database shipped with a release.
type VulnDBInfo struct {
	File     string    `json:"file"`
	SHA256   string    `json:"sha256"`
	Source   string    `json:"source"`
	Modified time.Time `json:"modified"`
}

// File is manifest.json: the root-signed signing keys and the manifest
// signed by one of them.
type File struct {
	SigningKeys Signed `json:"signingKeys"`
	Manifest    Signed `json:"manifest"`
}

var (
	safeFile = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	hexSHA   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	platform = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)
)

// Validate checks a manifest's own consistency (not its signature, not
// time).
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if m.Product != Product {
		return bad("product %q is not %q", m.Product, Product)
	}
	if _, err := parseVersion(m.Version); err != nil || !strings.HasPrefix(m.Version, "v") {
		return bad("version %q is not vMAJOR.MINOR.PATCH", m.Version)
	}
	if m.Channel == "" {
		return bad("no channel")
	}
	if m.MinimumVersion != "" {
		c, err := CompareVersions(m.Version, m.MinimumVersion)
		if err != nil {
			return bad("minimumVersion: %v", err)
		}
		if c < 0 {
			return bad("version %s is below its own minimumVersion %s", m.Version, m.MinimumVersion)
		}
	}
	if m.IssuedAt.IsZero() || m.ExpiresAt.IsZero() || !m.ExpiresAt.After(m.IssuedAt) {
		return bad("issuedAt %s and expiresAt %s do not make a validity window", m.IssuedAt.Format(time.RFC3339), m.ExpiresAt.Format(time.RFC3339))
	}
	if len(m.Artifacts) == 0 {
		return bad("no artifacts")
	}
	if d := m.VulnDB; d != nil && (!safeFile.MatchString(d.File) || !hexSHA.MatchString(d.SHA256)) {
		return bad("vulnDb: a plain file name and a sha256 are required")
	}
	for p, a := range m.Artifacts {
		if !platform.MatchString(p) {
			return bad("platform %q is not GOOS/GOARCH", p)
		}
		if !safeFile.MatchString(a.File) || (a.SBOM != "" && !safeFile.MatchString(a.SBOM)) {
			return bad("%s: file names must be plain names beside the manifest", p)
		}
		if !hexSHA.MatchString(a.SHA256) || (a.SBOM != "" && !hexSHA.MatchString(a.SBOMSHA256)) {
			return bad("%s: sha256 must be 64 lowercase hex digits", p)
		}
		if a.Size <= 0 {
			return bad("%s: size %d", p, a.Size)
		}
	}
	return nil
}

// Verified is a manifest whose signature chain checked out.
type Verified struct {
	Manifest
	// RootKeyID and SigningKeyID name the keys that vouched for it.
	RootKeyID, SigningKeyID string
}

// Verify checks manifest.json: the signing keys must carry a valid
// signature by one of roots, the manifest a valid signature by one of those
// signing keys (not past its notAfter), and the manifest must be well formed
// and valid at now (issuedAt at most ClockSkew ahead, not expired).
// Nothing of the payloads is trusted before its signature is checked.
func Verify(raw []byte, roots []ed25519.PublicKey, now time.Time) (*Verified, error) {
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w (hint: install a talon built by make release, or build with RELEASE_ROOT_KEYS)", ErrNoRootKeys)
	}
	var f File
	if err := strictUnmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrMalformed, err)
	}
	if len(f.SigningKeys.Signatures) == 0 || len(f.Manifest.Signatures) == 0 {
		return nil, fmt.Errorf("%w: manifest.json has no signatures (hint: talon release sign)", ErrUnsigned)
	}
	root, ok := f.SigningKeys.verifiedBy(PurposeSigningKeys, roots)
	if !ok {
		return nil, fmt.Errorf("%w: signed by %s, trusted roots are %s", ErrUntrustedChain, signerIDs(f.SigningKeys), keyIDs(roots))
	}
	var sk SigningKeys
	if err := strictUnmarshal(f.SigningKeys.Payload, &sk); err != nil {
		return nil, fmt.Errorf("%w: signing keys: %v", ErrMalformed, err)
	}
	var signers []ed25519.PublicKey
	for _, k := range sk.Keys {
		pk, err := ParsePublicKey(k.PublicKey)
		if err != nil || KeyID(pk) != k.KeyID {
			return nil, fmt.Errorf("%w: signing key %q: bad key or key id", ErrMalformed, k.KeyID)
		}
		if k.NotAfter != nil && now.After(*k.NotAfter) {
			continue
		}
		signers = append(signers, pk)
	}
	signer, ok := f.Manifest.verifiedBy(PurposeManifest, signers)
	if !ok {
		return nil, fmt.Errorf("%w: signed by %s, the root-signed signing keys are %s", ErrBadSignature, signerIDs(f.Manifest), keyIDs(signers))
	}
	v := &Verified{RootKeyID: KeyID(root), SigningKeyID: KeyID(signer)}
	if err := strictUnmarshal(f.Manifest.Payload, &v.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if v.IssuedAt.After(now.Add(ClockSkew)) {
		return nil, fmt.Errorf("%w: issued at %s, now is %s (hint: check this machine's clock)", ErrNotYetValid, v.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(v.ExpiresAt) {
		return nil, fmt.Errorf("%w at %s (now %s): the release feed is stale or being replayed (hint: ask the publisher to re-sign it, or check this machine's clock)", ErrExpired, v.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return v, nil
}

// CheckUpgrade refuses to go from current to the manifest's version when
// that is a downgrade (or when pin is set and the manifest offers another
// version). It reports whether there is anything to do.
func (v *Verified) CheckUpgrade(current, pin string) (newer bool, err error) {
	if pin != "" {
		c, err := CompareVersions(v.Version, pin)
		if err != nil {
			return false, fmt.Errorf("--to: %w", err)
		}
		if c != 0 {
			return false, fmt.Errorf("the manifest offers %s, not %s (hint: point --manifest-url at that release's manifest)", v.Version, pin)
		}
	}
	c, err := CompareVersions(v.Version, current)
	if err != nil {
		return false, fmt.Errorf("comparing with the running version: %w", err)
	}
	if c < 0 {
		return false, fmt.Errorf("%w: the manifest offers %s, older than the running %s", ErrDowngrade, v.Version, current)
	}
	return c > 0, nil
}

// BelowMinimum reports whether current is older than the manifest's
// minimum safe version.
func (v *Verified) BelowMinimum(current string) bool {
	if v.MinimumVersion == "" {
		return false
	}
	c, err := CompareVersions(current, v.MinimumVersion)
	return err != nil || c < 0
}

// Artifact returns the artifact for goos/goarch.
func (v *Verified) Artifact(goos, goarch string) (Artifact, error) {
	a, ok := v.Artifacts[goos+"/"+goarch]
	if !ok {
		have := make([]string, 0, len(v.Artifacts))
		for p := range v.Artifacts {
			have = append(have, p)
		}
		slices.Sort(have)
		return Artifact{}, fmt.Errorf("release %s has no build for %s/%s (it has %s)", v.Version, goos, goarch, strings.Join(have, ", "))
	}
	return a, nil
}

// SignManifest returns manifest.json for m, signed by signing, carrying the
// root-signed bundle keys (which must list signing's public key).
func SignManifest(m *Manifest, keys Signed, signing SecretKey) ([]byte, error) {
	if signing.Role != RoleSigning {
		return nil, fmt.Errorf("release.SignManifest: a %s key cannot sign a manifest", signing.Role)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var sk SigningKeys
	if err := strictUnmarshal(keys.Payload, &sk); err != nil {
		return nil, fmt.Errorf("release.SignManifest: signing keys: %w", err)
	}
	if !slices.ContainsFunc(sk.Keys, func(k SigningKey) bool { return k.KeyID == KeyID(signing.Public()) }) {
		return nil, fmt.Errorf("release.SignManifest: key %s is not in the signing-keys bundle (hint: talon release sign-keys)", KeyID(signing.Public()))
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("release.SignManifest: %w", err)
	}
	f := File{SigningKeys: keys, Manifest: Signed{Payload: payload}}
	f.Manifest.Sign(PurposeManifest, signing)
	return marshalIndent(f)
}

// SignSigningKeys returns a signing-keys bundle listing pubs, signed by root.
func SignSigningKeys(pubs []ed25519.PublicKey, notAfter *time.Time, root SecretKey, now time.Time) (Signed, error) {
	if root.Role != RoleRoot {
		return Signed{}, fmt.Errorf("release.SignSigningKeys: a %s key cannot sign signing keys", root.Role)
	}
	sk := SigningKeys{IssuedAt: now.UTC().Truncate(time.Second)}
	for _, p := range pubs {
		sk.Keys = append(sk.Keys, SigningKey{KeyID: KeyID(p), PublicKey: EncodePublicKey(p), NotAfter: notAfter})
	}
	payload, err := json.Marshal(sk)
	if err != nil {
		return Signed{}, fmt.Errorf("release.SignSigningKeys: %w", err)
	}
	s := Signed{Payload: payload}
	s.Sign(PurposeSigningKeys, root)
	return s, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

func marshalIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func signerIDs(s Signed) string {
	ids := make([]string, 0, len(s.Signatures))
	for _, sig := range s.Signatures {
		ids = append(ids, sig.KeyID)
	}
	return "[" + strings.Join(ids, " ") + "]"
}

func keyIDs(keys []ed25519.PublicKey) string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, KeyID(k))
	}
	return "[" + strings.Join(ids, " ") + "]"
}
