package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/talonclaw/talon/internal/release"
)

// releaseFixture is a real release: two talon binaries built with test
// root keys (v1.0.0 installed, v1.1.0 published), a signed manifest, and a
// loopback server publishing it.
type releaseFixture struct {
	dir            string
	oldBin, newBin string // built binaries
	root, signing  release.SecretKey
	bundle         release.Signed
	dist           string
	srv            *httptest.Server
	artifact       string // talon_<goos>_<goarch>
	manifestURL    string
	oldBytes       []byte
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// buildTalon links cmd/talon stamped with version and trusting roots, the
// way make release does.
func buildTalon(t *testing.T, out, version string, roots ...ed25519.PublicKey) {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range roots {
		keys = append(keys, release.EncodePublicKey(r))
	}
	ld := "-buildid= -X github.com/talonclaw/talon/internal/version.stamped=" + version +
		" -X github.com/talonclaw/talon/internal/release.linkedRootKeys=" + strings.Join(keys, ",")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ld, "-o", out, "./cmd/talon")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

func newReleaseFixture(t *testing.T) *releaseFixture {
	if testing.Short() {
		t.Skip("builds talon twice")
	}
	if goruntime.GOOS == "windows" {
		t.Skip("unix binaries")
	}
	f := &releaseFixture{dir: t.TempDir()}
	var err error
	if f.root, err = release.GenerateKey(release.RoleRoot); err != nil {
		t.Fatal(err)
	}
	if f.signing, err = release.GenerateKey(release.RoleSigning); err != nil {
		t.Fatal(err)
	}
	if f.bundle, err = release.SignSigningKeys([]ed25519.PublicKey{f.signing.Public()}, nil, f.root, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.oldBin = filepath.Join(f.dir, "talon-v1.0.0")
	f.newBin = filepath.Join(f.dir, "talon-v1.1.0")
	buildTalon(t, f.oldBin, "v1.0.0", f.root.Public())
	buildTalon(t, f.newBin, "v1.1.0", f.root.Public())
	f.oldBytes, _ = os.ReadFile(f.oldBin)
	f.artifact = "talon_" + goruntime.GOOS + "_" + goruntime.GOARCH
	f.dist = filepath.Join(f.dir, "dist")
	if err := os.Mkdir(f.dist, 0o755); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.FileServer(http.Dir(f.dist)))
	t.Cleanup(f.srv.Close)
	f.manifestURL = f.srv.URL + "/manifest.json"
	return f
}

// publish puts bin into dist as the artifact and signs a manifest for it
// with the maintainer's own commands (talon release sign).
func (f *releaseFixture) publish(t *testing.T, bin, version string) {
	t.Helper()
	os.RemoveAll(f.dist)
	os.Mkdir(f.dist, 0o755)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.dist, f.artifact), b, 0o755)
	key := filepath.Join(f.dir, "signing.key")
	os.WriteFile(key, release.MarshalSecretKey(f.signing), 0o600)
	bundle, _ := json.Marshal(f.bundle)
	os.WriteFile(filepath.Join(f.dir, "signing-keys.json"), bundle, 0o644)
	var out, errb bytes.Buffer
	err = Execute(context.Background(), Env{Stdout: &out, Stderr: &errb}, []string{"release", "sign", "--dir", f.dist, "--version", version, "--key", key, "--signing-keys", filepath.Join(f.dir, "signing-keys.json")})
	if err != nil {
		t.Fatalf("release sign: %v\n%s", err, errb.String())
	}
}

// signRaw signs an arbitrary manifest m (for what release sign refuses to
// make: expired windows, unstamped artifacts) with the given keys.
func (f *releaseFixture) signRaw(t *testing.T, m *release.Manifest, bundle release.Signed, signing release.SecretKey) {
	t.Helper()
	raw, err := release.SignManifest(m, bundle, signing)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.dist, "manifest.json"), raw, 0o644)
}

// install copies bin to a fresh install directory and returns its path.
func (f *releaseFixture) install(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	b, _ := os.ReadFile(bin)
	p := filepath.Join(dir, "talon")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *releaseFixture) env(t *testing.T, state string) []string {
	return []string{"PATH=/usr/bin:/bin", "HOME=" + state, "TALON_STATE_DIR=" + state}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is not byte-identical to what was installed before (err %v)", path, err)
	}
	if _, err := os.Stat(path + release.UnverifiedSuffix); err == nil {
		t.Errorf("%s%s was left behind", path, release.UnverifiedSuffix)
	}
}

// TestInvariant13_SignedSelfUpdate drives real talon binaries, built with
// test root keys, against a release published on loopback: refusals first
// (each leaving the installed binary byte-identical), then a good update,
// then the built binary's SBOM.
func TestInvariant13_SignedSelfUpdate(t *testing.T) {
	f := newReleaseFixture(t)
	t.Run("refusals keep the binary", func(t *testing.T) { testUpdateRefusals(t, f) })
	t.Run("signed release installs", func(t *testing.T) { testUpdateInstalls(t, f) })
	t.Run("version --sbom is CycloneDX", func(t *testing.T) { testVersionSBOM(t, f.oldBin) })
}

func testUpdateInstalls(t *testing.T, f *releaseFixture) {
	f.publish(t, f.newBin, "v1.1.0")
	exe := f.install(t, f.oldBin)
	state := t.TempDir()

	out, errs, code := runIn(t, state, f.env(t, state), exe, "update", "--check", "--json", "--manifest-url", f.manifestURL)
	if code != 0 {
		t.Fatalf("update --check: %d %s", code, errs)
	}
	var check struct {
		Current, Latest string
		UpdateAvailable bool
	}
	if err := json.Unmarshal([]byte(out), &check); err != nil || check.Current != "v1.0.0" || check.Latest != "v1.1.0" || !check.UpdateAvailable {
		t.Fatalf("update --check --json: %s (%v)", out, err)
	}
	sameFile(t, exe, f.oldBytes)

	// Without --yes and nobody to confirm, nothing happens.
	if _, errs, code := runIn(t, state, f.env(t, state), exe, "update", "--manifest-url", f.manifestURL); code != 1 || !strings.Contains(errs, "not confirmed") {
		t.Fatalf("update without --yes: exit %d %s", code, errs)
	}
	sameFile(t, exe, f.oldBytes)

	out, errs, code = runIn(t, state, f.env(t, state), exe, "update", "--yes", "--manifest-url", f.manifestURL, "--to", "v1.1.0")
	if code != 0 {
		t.Fatalf("update: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "v1.0.0 → v1.1.0") || !strings.Contains(out, "restart") {
		t.Errorf("update output does not say what happened and how to restart: %s", out)
	}
	newBytes, _ := os.ReadFile(f.newBin)
	if got, _ := os.ReadFile(exe); !bytes.Equal(got, newBytes) {
		t.Fatal("the installed binary is not the published one")
	}
	if got, _ := os.ReadFile(exe + release.PreviousSuffix); !bytes.Equal(got, f.oldBytes) {
		t.Fatal("the previous binary was not kept")
	}
	if out, _, _ := runIn(t, state, f.env(t, state), exe, "version"); !strings.Contains(out, "v1.1.0") {
		t.Fatalf("talon version after update: %s", out)
	}
	// Audited, and the audit log still verifies.
	out, errs, code = runIn(t, state, f.env(t, state), exe, "audit", "tail", "--json")
	if code != 0 || !strings.Contains(out, "update.installed") {
		t.Fatalf("audit tail: %d %s %s", code, out, errs)
	}
	if _, errs, code := runIn(t, state, f.env(t, state), exe, "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %s", errs)
	}
	// Running it again: nothing to do.
	if out, _, code := runIn(t, state, f.env(t, state), exe, "update", "--yes", "--manifest-url", f.manifestURL); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second update: %d %s", code, out)
	}
}

// testUpdateRefusals: a manifest signed by a key not chained to a
// compiled-in root, a tampered binary, a downgrade, an expired manifest and
// a binary failing its health check are each refused with a clear one-line
// error, and the installed binary stays byte-identical.
func testUpdateRefusals(t *testing.T, f *releaseFixture) {
	newBytes, _ := os.ReadFile(f.newBin)
	for _, tc := range []struct {
		name      string
		installed string
		prepare   func(t *testing.T)
		want      string
	}{
		{"unchained signing key", f.oldBin, func(t *testing.T) {
			f.publish(t, f.newBin, "v1.1.0")
			evilRoot, _ := release.GenerateKey(release.RoleRoot)
			evilSigning, _ := release.GenerateKey(release.RoleSigning)
			b, _ := release.SignSigningKeys([]ed25519.PublicKey{evilSigning.Public()}, nil, evilRoot, time.Now())
			m, _ := release.Assemble(release.AssembleOptions{Dir: f.dist, Version: "v1.1.0", Channel: "stable", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
			f.signRaw(t, m, b, evilSigning)
		}, "not signed by a trusted root key"},
		{"tampered binary", f.oldBin, func(t *testing.T) {
			f.publish(t, f.newBin, "v1.1.0")
			b := append([]byte{}, newBytes...)
			b[len(b)/2] ^= 0xff
			os.WriteFile(filepath.Join(f.dist, f.artifact), b, 0o755)
		}, "does not match the signed manifest"},
		{"downgrade", f.newBin, func(t *testing.T) {
			f.publish(t, f.oldBin, "v1.0.0")
		}, "downgrade refused"},
		{"expired manifest", f.oldBin, func(t *testing.T) {
			f.publish(t, f.newBin, "v1.1.0")
			m, _ := release.Assemble(release.AssembleOptions{Dir: f.dist, Version: "v1.1.0", Channel: "stable", IssuedAt: time.Now().Add(-48 * time.Hour), ExpiresAt: time.Now().Add(-24 * time.Hour)})
			f.signRaw(t, m, f.bundle, f.signing)
		}, "manifest expired"},
		{"health check fails", f.oldBin, func(t *testing.T) {
			f.publish(t, f.newBin, "v1.1.0")
			broken := []byte("#!/bin/sh\necho broken >&2\nexit 1\n")
			os.WriteFile(filepath.Join(f.dist, f.artifact), broken, 0o755)
			sum := sha256.Sum256(broken)
			m := &release.Manifest{Product: "talon", Version: "v1.1.0", Channel: "stable", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
				Artifacts: map[string]release.Artifact{goruntime.GOOS + "/" + goruntime.GOARCH: {File: f.artifact, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(broken))}}}
			f.signRaw(t, m, f.bundle, f.signing)
		}, "rolled back to v1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare(t)
			exe := f.install(t, tc.installed)
			before, _ := os.ReadFile(exe)
			state := t.TempDir()
			_, errs, code := runIn(t, state, f.env(t, state), exe, "update", "--yes", "--manifest-url", f.manifestURL)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", code, errs, tc.want)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "talon: update: ") {
				t.Errorf("error is not one talon: update: line: %q", errs)
			}
			sameFile(t, exe, before)
			out, _, _ := runIn(t, state, f.env(t, state), exe, "audit", "tail", "--json")
			if !strings.Contains(out, "update.refused") && !strings.Contains(out, "update.rolled_back") {
				t.Errorf("the refusal is not in the audit log: %s", out)
			}
		})
	}
}

// testVersionSBOM validates a real binary's `version --sbom` against the
// official CycloneDX 1.6 schema.
func testVersionSBOM(t *testing.T, exe string) {
	out, errs, code := runIn(t, t.TempDir(), []string{"PATH=/usr/bin:/bin"}, exe, "version", "--sbom")
	if code != 0 {
		t.Fatalf("version --sbom: %s", errs)
	}
	c := jsonschema.NewCompiler()
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		b, err := os.ReadFile(filepath.Join("..", "release", "testdata", "cyclonedx", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		c.AddResource("http://cyclonedx.org/schema/"+name, doc)
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("talon version --sbom is not valid CycloneDX 1.6: %v", err)
	}
	for _, want := range []string{`"purl": "pkg:golang/github.com/talonclaw/talon@v1.0.0?type=module"`, `"pkg:golang/modernc.org/sqlite@`, `"alg": "SHA-256"`, `"id": "BSD-3-Clause"`} {
		if !strings.Contains(out, want) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
}
