package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
)

// Suffixes of the files an update keeps beside the binary.
const (
	UnverifiedSuffix = ".unverified"
	PreviousSuffix   = ".previous"
	LockSuffix       = ".update-lock"
)

// MaxManifestBytes caps manifest.json.
const MaxManifestBytes = 1 << 20

// Errors of the install step.
var (
	ErrArtifactMismatch = errors.New("release: downloaded binary does not match the signed manifest")
	ErrHealthCheck      = errors.New("release: the new binary failed its health check")
)

// Updater fetches, verifies and installs a release over the running binary.
// Only the operator's `talon update` builds one; no tool and no gateway
// method can reach it (TestInvariant13_UpdateUnreachableFromTools).
type Updater struct {
	// Net is the outbound policy; the manifest URL's origin is added to its
	// AllowedOrigins (the operator named it), artifacts are fetched from
	// beside the manifest.
	Net netguard.Policy
	// Roots are the trusted root public keys (RootKeys in production).
	Roots []ed25519.PublicKey
	// Now is the clock used for expiry.
	Now func() time.Time
	// Exe is the binary to replace (symlinks resolved).
	Exe string
	// Current is the running version.
	Current string
	// GOOS and GOARCH select the artifact.
	GOOS, GOARCH string
	// HealthCheck runs the installed binary and returns the version it
	// reports; nil means RunVersion.
	HealthCheck func(ctx context.Context, exe string) (string, error)
}

// Plan is a verified manifest and what it means for this install.
type Plan struct {
	*Verified
	ManifestURL  string
	Artifact     Artifact
	ArtifactURL  string
	Newer        bool
	BelowMinimum bool
}

// Check fetches manifestURL through netguard and verifies it: chain,
// expiry, downgrade, the pinned version (if pin is set) and this platform's
// artifact. It changes nothing on disk.
func (u *Updater) Check(ctx context.Context, manifestURL, pin string) (*Plan, error) {
	mu, err := url.Parse(manifestURL)
	if err != nil || (mu.Scheme != "http" && mu.Scheme != "https") || mu.Host == "" {
		return nil, fmt.Errorf("manifest URL %q is not an http(s) URL", manifestURL)
	}
	pol := u.Net
	pol.AllowedOrigins = append(append([]string(nil), pol.AllowedOrigins...), mu.Scheme+"://"+mu.Host)
	pol.MaxBodyBytes = MaxManifestBytes
	pol.SameOriginRedirects = true
	resp, err := netguard.Get(ctx, pol.Client(), manifestURL)
	if err != nil {
		return nil, fmt.Errorf("fetching the manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the manifest: %s answered %s", manifestURL, resp.Status)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	v, err := Verify(raw, u.Roots, u.Now())
	if err != nil {
		return nil, err
	}
	newer, err := v.CheckUpgrade(u.Current, pin)
	if err != nil {
		return nil, err
	}
	a, err := v.Artifact(u.GOOS, u.GOARCH)
	if err != nil {
		return nil, err
	}
	au, _ := mu.Parse(a.File) // a.File is a plain name (Validate)
	return &Plan{Verified: v, ManifestURL: manifestURL, Artifact: a, ArtifactURL: au.String(), Newer: newer, BelowMinimum: v.BelowMinimum(u.Current)}, nil
}

// Result says what Install did.
type Result struct {
	From, To string
	Exe      string
	Previous string
}

// Install downloads the plan's artifact next to the binary as
// Exe+".unverified" (mode 0600: not executable while unverified), checks its
// size and SHA-256 against the signed manifest, keeps the current binary as
// Exe+".previous", renames the new one into place (atomic), and runs its
// `version` as a health check. If the check fails, the previous binary is
// renamed back. On every failure before the swap the binary is untouched.
func (u *Updater) Install(ctx context.Context, p *Plan) (*Result, error) {
	unverified := u.Exe + UnverifiedSuffix
	previous := u.Exe + PreviousSuffix
	fi, err := os.Stat(u.Exe)
	if err != nil {
		return nil, fmt.Errorf("the running binary: %w", err)
	}
	unlock, err := lockUpdate(u.Exe + LockSuffix)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := u.download(ctx, p, unverified); err != nil {
		os.Remove(unverified)
		return nil, err
	}
	if err := os.Chmod(unverified, fi.Mode().Perm()|0o100); err != nil {
		os.Remove(unverified)
		return nil, fmt.Errorf("release.Install: %w", err)
	}
	// Keep the current binary under .previous (a hard link: same bytes,
	// no copy); then one rename puts the new one in place.
	os.Remove(previous)
	if err := os.Link(u.Exe, previous); err != nil {
		if err := copyFile(u.Exe, previous, fi.Mode().Perm()); err != nil {
			os.Remove(unverified)
			return nil, fmt.Errorf("keeping the previous binary: %w", err)
		}
	}
	if err := os.Rename(unverified, u.Exe); err != nil {
		os.Remove(unverified)
		return nil, fmt.Errorf("replacing %s: %w", u.Exe, err)
	}
	syncDir(filepath.Dir(u.Exe))
	res := &Result{From: u.Current, To: p.Version, Exe: u.Exe, Previous: previous}
	check := u.HealthCheck
	if check == nil {
		check = RunVersion
	}
	got, herr := check(ctx, u.Exe)
	if herr == nil && got != p.Version {
		herr = fmt.Errorf("it reports version %q, the manifest says %s", got, p.Version)
	}
	if herr != nil {
		if err := os.Rename(previous, u.Exe); err != nil {
			return res, fmt.Errorf("%w (%v) and ROLLING BACK FAILED: %v (hint: mv %s %s)", ErrHealthCheck, herr, err, previous, u.Exe)
		}
		syncDir(filepath.Dir(u.Exe))
		return res, fmt.Errorf("%w: %v; rolled back to %s", ErrHealthCheck, herr, u.Current)
	}
	return res, nil
}

// download fetches the artifact into path (created 0600, never executable
// while unverified) and checks size and hash.
func (u *Updater) download(ctx context.Context, p *Plan, path string) error {
	mu, _ := url.Parse(p.ManifestURL)
	pol := u.Net
	pol.AllowedOrigins = append(append([]string(nil), pol.AllowedOrigins...), mu.Scheme+"://"+mu.Host)
	pol.MaxBodyBytes = p.Artifact.Size + 1
	pol.SameOriginRedirects = true
	if pol.Timeout == 0 {
		pol.Timeout = 15 * time.Minute
	}
	resp, err := netguard.Get(ctx, pol.Client(), p.ArtifactURL)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", p.ArtifactURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: %s", p.ArtifactURL, resp.Status)
	}
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write beside the binary: %w (hint: run talon update as the user that owns %s)", err, filepath.Dir(path))
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, p.Artifact.Size+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, netguard.ErrBodyTooLarge) {
		n, err = p.Artifact.Size+1, nil
	}
	if err != nil {
		return fmt.Errorf("downloading %s: %w", p.ArtifactURL, err)
	}
	if n != p.Artifact.Size {
		return fmt.Errorf("%w: %s is %d bytes or more, the manifest says %d; nothing was installed", ErrArtifactMismatch, p.Artifact.File, n, p.Artifact.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.Artifact.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, the manifest says %s; nothing was installed", ErrArtifactMismatch, p.Artifact.File, got, p.Artifact.SHA256)
	}
	return nil
}

// RunVersion runs `exe version --json` with a clean environment and returns
// the version it reports.
func RunVersion(ctx context.Context, exe string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "version", "--json")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + os.TempDir()}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := bytes.TrimSpace(stderr.Bytes())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return "", fmt.Errorf("%s version: %v %s", exe, err, msg)
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return "", fmt.Errorf("%s version --json printed no version: %v", exe, err)
	}
	return v.Version, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
