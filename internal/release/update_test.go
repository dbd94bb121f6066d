package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeBinary is a script that answers `version --json` like talon would.
func fakeBinary(version string) []byte {
	return []byte("#!/bin/sh\necho '{\"version\":\"" + version + "\"}'\n")
}

type updateFixture struct {
	k       testKeys
	exe     string
	orig    []byte
	srv     *httptest.Server
	files   map[string][]byte
	updater *Updater
}

func newUpdateFixture(t *testing.T) *updateFixture {
	if runtime.GOOS == "windows" {
		t.Skip("shell-script binaries")
	}
	f := &updateFixture{k: newTestKeys(t), files: map[string][]byte{}}
	dir := t.TempDir()
	f.exe = filepath.Join(dir, "talon")
	f.orig = fakeBinary("v1.0.0")
	if err := os.WriteFile(f.exe, f.orig, 0o755); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := f.files[r.URL.Path[1:]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(f.srv.Close)
	f.updater = &Updater{Roots: []ed25519.PublicKey{f.k.root.Public()}, Now: func() time.Time { return t0.Add(time.Hour) },
		Exe: f.exe, Current: "v1.0.0", GOOS: "linux", GOARCH: "amd64"}
	return f
}

// publish serves bin as version's artifact, described by a manifest that
// says served (normally bin itself).
func (f *updateFixture) publish(t *testing.T, version string, described, served []byte) {
	sum := sha256.Sum256(described)
	m := testManifest(version)
	m.Artifacts = map[string]Artifact{"linux/amd64": {File: "talon_linux_amd64", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(described))}}
	f.files["manifest.json"] = f.k.sign(t, m)
	f.files["talon_linux_amd64"] = served
}

func (f *updateFixture) untouched(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(f.exe)
	if err != nil || !bytes.Equal(got, f.orig) {
		t.Fatalf("the installed binary changed (err %v)", err)
	}
	if _, err := os.Stat(f.exe + UnverifiedSuffix); err == nil {
		t.Error("an .unverified download was left behind")
	}
}

func (f *updateFixture) run(pin string) (*Result, error) {
	p, err := f.updater.Check(context.Background(), f.srv.URL+"/manifest.json", pin)
	if err != nil {
		return nil, err
	}
	return f.updater.Install(context.Background(), p)
}

func TestUpdaterInstallsAndKeepsPrevious(t *testing.T) {
	f := newUpdateFixture(t)
	bin := fakeBinary("v1.2.0")
	f.publish(t, "v1.2.0", bin, bin)
	res, err := f.run("")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.exe); !bytes.Equal(got, bin) {
		t.Fatal("the new binary is not in place")
	}
	if got, _ := os.ReadFile(res.Previous); !bytes.Equal(got, f.orig) {
		t.Fatal("the previous binary was not kept")
	}
	if fi, _ := os.Stat(f.exe); fi.Mode().Perm()&0o100 == 0 {
		t.Error("the new binary is not executable")
	}
}

// TestInvariant13_UpdateRefusalsLeaveBinaryUntouched: a tampered or
// truncated download, or a binary that fails its health check, leaves the
// installed binary byte-identical.
func TestInvariant13_UpdateRefusalsLeaveBinaryUntouched(t *testing.T) {
	good := fakeBinary("v1.2.0")
	for _, tc := range []struct {
		name             string
		described, serve []byte
		want             error
	}{
		{"tampered", good, append([]byte("#!/bin/sh\nrm -rf ~ #"), good[20:]...), ErrArtifactMismatch},
		{"longer", good, append(append([]byte{}, good...), "extra"...), ErrArtifactMismatch},
		{"truncated", good, good[:10], ErrArtifactMismatch},
		// Correctly signed, but it does not run as talon v1.2.0.
		{"health check fails", []byte("#!/bin/sh\nexit 3\n"), []byte("#!/bin/sh\nexit 3\n"), ErrHealthCheck},
		{"reports another version", fakeBinary("v6.6.6"), fakeBinary("v6.6.6"), ErrHealthCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUpdateFixture(t)
			f.publish(t, "v1.2.0", tc.described, tc.serve)
			_, err := f.run("")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			f.untouched(t)
		})
	}
}

// TestUpdaterRefusesConcurrentUpdate: while one update holds the lock, a
// second one changes nothing.
func TestUpdaterRefusesConcurrentUpdate(t *testing.T) {
	f := newUpdateFixture(t)
	bin := fakeBinary("v1.2.0")
	f.publish(t, "v1.2.0", bin, bin)
	unlock, err := lockUpdate(f.exe + LockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.run("")
	unlock()
	if err == nil || !strings.Contains(err.Error(), "another talon update") {
		t.Fatalf("second update: %v", err)
	}
	f.untouched(t)
	if _, err := f.run(""); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}
