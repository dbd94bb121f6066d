package release

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// testKeys is a root, a signing key chained to it, and the bundle.
type testKeys struct {
	root, signing SecretKey
	bundle        Signed
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	root, err := GenerateKey(RoleRoot)
	if err != nil {
		t.Fatal(err)
	}
	signing, err := GenerateKey(RoleSigning)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignSigningKeys([]ed25519.PublicKey{signing.Public()}, nil, root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{root: root, signing: signing, bundle: b}
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func testManifest(version string) *Manifest {
	return &Manifest{
		Product: Product, Version: version, Channel: "stable", MinimumVersion: "v1.0.0",
		IssuedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour),
		Artifacts: map[string]Artifact{"linux/amd64": {File: "talon_linux_amd64", SHA256: strings.Repeat("ab", 32), Size: 1234}},
	}
}

func (k testKeys) sign(t testing.TB, m *Manifest) []byte {
	t.Helper()
	raw, err := SignManifest(m, k.bundle, k.signing)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyAcceptsChainedManifest(t *testing.T) {
	k := newTestKeys(t)
	v, err := Verify(k.sign(t, testManifest("v1.2.0")), []ed25519.PublicKey{k.root.Public()}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != "v1.2.0" || v.RootKeyID != KeyID(k.root.Public()) || v.SigningKeyID != KeyID(k.signing.Public()) {
		t.Fatalf("verified %+v", v)
	}
	if newer, err := v.CheckUpgrade("v1.1.9", ""); err != nil || !newer {
		t.Fatalf("CheckUpgrade from v1.1.9: %v %v", newer, err)
	}
	if newer, err := v.CheckUpgrade("v1.2.0", ""); err != nil || newer {
		t.Fatalf("CheckUpgrade from the same version: %v %v", newer, err)
	}
}

// TestInvariant13_ReleaseManifestRefusals: every way of getting a manifest
// past the chain, the clock or the version order is refused with its own
// error.
func TestInvariant13_ReleaseManifestRefusals(t *testing.T) {
	k := newTestKeys(t)
	roots := []ed25519.PublicKey{k.root.Public()}
	now := t0.Add(time.Hour)
	good := k.sign(t, testManifest("v1.2.0"))

	// A signing key that no trusted root vouches for: the attacker makes
	// their own root and bundle.
	evil := newTestKeys(t)
	unchained := evil.sign(t, testManifest("v1.2.0"))

	// The real bundle, but a manifest signed by a key not in it.
	rogue, _ := GenerateKey(RoleSigning)
	notInBundle := func() []byte {
		var f File
		_ = json.Unmarshal(good, &f)
		f.Manifest.Signatures = nil
		f.Manifest.Sign(PurposeManifest, rogue)
		b, _ := json.Marshal(f)
		return b
	}()

	// A good signature over a changed payload.
	tampered := func() []byte {
		var f File
		_ = json.Unmarshal(good, &f)
		var m Manifest
		_ = json.Unmarshal(f.Manifest.Payload, &m)
		m.Artifacts["linux/amd64"] = Artifact{File: "talon_linux_amd64", SHA256: strings.Repeat("cd", 32), Size: 1234}
		f.Manifest.Payload, _ = json.Marshal(m)
		b, _ := json.Marshal(f)
		return b
	}()

	// The root's signature over the bundle replayed as a manifest signature
	// (a root key signs a manifest directly, skipping the signing tier).
	crossPurpose := func() []byte {
		m, _ := json.Marshal(testManifest("v1.2.0"))
		f := File{SigningKeys: k.bundle, Manifest: Signed{Payload: m}}
		f.Manifest.Signatures = []Signature{{KeyID: KeyID(k.root.Public()), Sig: ed25519.Sign(k.root.Key, SignedMessage(PurposeSigningKeys, m))}}
		b, _ := json.Marshal(f)
		return b
	}()

	unsigned := func() []byte {
		m, _ := json.Marshal(testManifest("v1.2.0"))
		b, _ := json.Marshal(File{Manifest: Signed{Payload: m}})
		return b
	}()

	// A signing key past its notAfter.
	retired := func() []byte {
		na := t0.Add(-time.Minute)
		b, err := SignSigningKeys([]ed25519.PublicKey{k.signing.Public()}, &na, k.root, t0)
		if err != nil {
			t.Fatal(err)
		}
		return testKeys{root: k.root, signing: k.signing, bundle: b}.sign(t, testManifest("v1.2.0"))
	}()

	for _, tc := range []struct {
		name string
		raw  []byte
		now  time.Time
		want error
	}{
		{"unchained signing key", unchained, now, ErrUntrustedChain},
		{"manifest key not in bundle", notInBundle, now, ErrBadSignature},
		{"tampered payload", tampered, now, ErrBadSignature},
		{"root signature replayed as manifest signature", crossPurpose, now, ErrBadSignature},
		{"unsigned", unsigned, now, ErrUnsigned},
		{"retired signing key", retired, now, ErrBadSignature},
		{"expired", good, t0.Add(31 * 24 * time.Hour), ErrExpired},
		{"issued in the future", good, t0.Add(-2 * time.Hour), ErrNotYetValid},
		{"garbage", []byte(`{"signingKeys":`), now, ErrMalformed},
		{"unknown field", []byte(`{"signingKeys":{},"manifest":{},"extra":1}`), now, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.raw, roots, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := Verify(good, nil, now); !errors.Is(err, ErrNoRootKeys) {
		t.Errorf("no roots: %v", err)
	}

	v, err := Verify(good, roots, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.CheckUpgrade("v1.3.0", ""); !errors.Is(err, ErrDowngrade) {
		t.Errorf("downgrade v1.3.0 → v1.2.0: %v", err)
	}
	if _, err := v.CheckUpgrade("v1.0.0", "v1.1.0"); err == nil {
		t.Error("--to v1.1.0 accepted a manifest for v1.2.0")
	}
	if !v.BelowMinimum("v0.9.0") || v.BelowMinimum("v1.0.0") {
		t.Error("BelowMinimum wrong")
	}
}

func TestManifestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Manifest){
		"product":       func(m *Manifest) { m.Product = "other" },
		"version":       func(m *Manifest) { m.Version = "1.2.0" },
		"below minimum": func(m *Manifest) { m.MinimumVersion = "v2.0.0" },
		"window":        func(m *Manifest) { m.ExpiresAt = m.IssuedAt },
		"path traversal": func(m *Manifest) {
			m.Artifacts["linux/amd64"] = Artifact{File: "../bin/sh", SHA256: strings.Repeat("ab", 32), Size: 1}
		},
		"url": func(m *Manifest) {
			m.Artifacts["linux/amd64"] = Artifact{File: "http://evil/x", SHA256: strings.Repeat("ab", 32), Size: 1}
		},
		"hash":     func(m *Manifest) { m.Artifacts["linux/amd64"] = Artifact{File: "t", SHA256: "ab", Size: 1} },
		"size":     func(m *Manifest) { m.Artifacts["linux/amd64"] = Artifact{File: "t", SHA256: strings.Repeat("ab", 32)} },
		"platform": func(m *Manifest) { m.Artifacts["linux"] = m.Artifacts["linux/amd64"] },
	} {
		m := testManifest("v1.2.0")
		mut(m)
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestKeyRoles(t *testing.T) {
	k := newTestKeys(t)
	if _, err := SignManifest(testManifest("v1.2.0"), k.bundle, k.root); err == nil {
		t.Error("a root key signed a manifest")
	}
	if _, err := SignSigningKeys(nil, nil, k.signing, t0); err == nil {
		t.Error("a signing key signed a bundle")
	}
	other, _ := GenerateKey(RoleSigning)
	if _, err := SignManifest(testManifest("v1.2.0"), k.bundle, other); err == nil {
		t.Error("signed with a key not in the bundle")
	}
	back, err := ParseSecretKey(MarshalSecretKey(k.signing))
	if err != nil || !back.Key.Equal(k.signing.Key) || back.Role != RoleSigning {
		t.Fatalf("key file round trip: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	order := []string{"0.1.0-dev", "v0.1.0", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "1.0.1", "v1.10.0", "go1.22", "v1.22.1"}
	for i := range order {
		for j := range order {
			c, err := CompareVersions(order[i], order[j])
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if c != want {
				t.Errorf("CompareVersions(%s, %s) = %d, want %d", order[i], order[j], c, want)
			}
		}
	}
	for _, bad := range []string{"", "v", "v1.2.3.4", "v01.2.3", "vx.y.z", "v1.2.3-"} {
		if _, err := CompareVersions(bad, "v1.0.0"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
