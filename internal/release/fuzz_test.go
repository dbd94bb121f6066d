package release

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerify feeds manifest.json variants to Verify: it must never panic,
// and whatever it accepts must be a well-formed, unexpired manifest whose
// payload bytes carry a valid signature by a key in a root-signed bundle.
func FuzzVerify(f *testing.F) {
	root := SecretKey{Role: RoleRoot, Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))}
	signing := SecretKey{Role: RoleSigning, Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))}
	bundle, err := SignSigningKeys([]ed25519.PublicKey{signing.Public()}, nil, root, t0)
	if err != nil {
		f.Fatal(err)
	}
	good, err := SignManifest(testManifest("v1.2.0"), bundle, signing)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"signingKeys":{"payload":"","signatures":[]},"manifest":{"payload":"","signatures":[]}}`))
	f.Add([]byte(`{}`))
	roots := []ed25519.PublicKey{root.Public()}
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := Verify(raw, roots, now)
		if err != nil {
			return
		}
		if verr := v.Validate(); verr != nil {
			t.Fatalf("accepted an invalid manifest: %v", verr)
		}
		if !now.Before(v.ExpiresAt) {
			t.Fatal("accepted an expired manifest")
		}
		var file File
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Fatalf("accepted unparseable input: %v", err)
		}
		if _, ok := file.Manifest.verifiedBy(PurposeManifest, []ed25519.PublicKey{signing.Public()}); !ok {
			t.Fatal("accepted a manifest without a valid signature by the signing key")
		}
	})
}
