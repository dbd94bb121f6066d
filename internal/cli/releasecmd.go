package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/release"
)

// releaseCmd is the maintainer's tooling: keys, signing, verification and a
// static server for a release directory. Nothing here needs a state
// directory or a config.
func (a *app) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Make, sign, verify and serve signed releases (maintainers)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("release: missing subcommand (hint: talon release keygen|sign-keys|sign|verify|serve)")
		},
	}
	cmd.AddCommand(a.releaseKeygenCmd(), a.releaseSignKeysCmd(), a.releaseSignCmd(), a.releaseVerifyCmd(), a.releaseServeCmd())
	return cmd
}

func (a *app) releaseKeygenCmd() *cobra.Command {
	var role, out string
	c := &cobra.Command{
		Use:   "keygen --role root|signing --out FILE",
		Short: "Make a release key: secret key to FILE (0600), public key to FILE.pub and stdout",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("release keygen: --out FILE is required")
			}
			if role != release.RoleRoot && role != release.RoleSigning {
				return usagef("release keygen: --role must be root or signing, not %q", role)
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("release keygen: %s exists; refusing to overwrite a key (hint: choose another --out)", out)
			}
			k, err := release.GenerateKey(role)
			if err != nil {
				return err
			}
			if err := release.WriteFileAtomic(out, release.MarshalSecretKey(k), 0o600); err != nil {
				return err
			}
			pub := release.EncodePublicKey(k.Public())
			if err := release.WriteFileAtomic(out+".pub", []byte(pub+"\n"), 0o644); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"role": role, "keyId": release.KeyID(k.Public()), "publicKey": pub, "secretKeyFile": out, "publicKeyFile": out + ".pub"})
			}
			a.outf("%s\n", pub)
			a.errf("%s key %s written to %s (keep it offline), public key to %s.pub\n", role, release.KeyID(k.Public()), out, out)
			return nil
		},
	}
	c.Flags().StringVar(&role, "role", "", "root (offline, signs signing keys) or signing (signs manifests)")
	c.Flags().StringVar(&out, "out", "", "secret key file to write")
	return c
}

// readPublicKeys takes keys given as base64 or as paths of .pub files.
func readPublicKeys(args []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, s := range args {
		if b, err := os.ReadFile(s); err == nil {
			s = string(b)
		}
		ks, err := release.ParsePublicKeys(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ks...)
	}
	return out, nil
}

func (a *app) releaseSignKeysCmd() *cobra.Command {
	var rootKey, out, notAfter string
	c := &cobra.Command{
		Use:   "sign-keys --root-key FILE --out FILE [--not-after RFC3339] SIGNING_PUB...",
		Short: "Sign a bundle of manifest-signing public keys with a root key",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootKey == "" || out == "" {
				return usagef("release sign-keys: --root-key and --out are required")
			}
			root, err := release.ReadSecretKey(rootKey, release.RoleRoot)
			if err != nil {
				return fmt.Errorf("release sign-keys: %w", err)
			}
			pubs, err := readPublicKeys(args)
			if err != nil {
				return fmt.Errorf("release sign-keys: %w", err)
			}
			var na *time.Time
			if notAfter != "" {
				t, err := time.Parse(time.RFC3339, notAfter)
				if err != nil {
					return usagef("release sign-keys: --not-after %q is not RFC 3339 (e.g. 2027-06-01T00:00:00Z)", notAfter)
				}
				na = &t
			}
			s, err := release.SignSigningKeys(pubs, na, root, time.Now())
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(s, "", "  ")
			if err := release.WriteFileAtomic(out, append(b, '\n'), 0o644); err != nil {
				return err
			}
			a.errf("%d signing key(s) signed by root %s into %s\n", len(pubs), release.KeyID(root.Public()), out)
			return nil
		},
	}
	c.Flags().StringVar(&rootKey, "root-key", "", "root secret key file")
	c.Flags().StringVar(&out, "out", "", "signing-keys bundle to write")
	c.Flags().StringVar(&notAfter, "not-after", "", "the keys sign nothing accepted after this time")
	return c
}

func (a *app) releaseSignCmd() *cobra.Command {
	var dir, ver, channel, minimum, key, keysFile string
	var expires time.Duration
	var unsigned bool
	c := &cobra.Command{
		Use:   "sign --dir DIST --version vX.Y.Z (--key FILE --signing-keys FILE | --unsigned)",
		Short: "Write SBOMs and the signed manifest.json for the binaries in DIST",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || ver == "" {
				return usagef("release sign: --dir and --version are required")
			}
			if !unsigned && (key == "" || keysFile == "") {
				return usagef("release sign: give --key and --signing-keys, or --unsigned")
			}
			if expires <= 0 {
				return usagef("release sign: --expires must be positive")
			}
			// Keys first: a wrong key changes nothing in dir.
			var sk release.SecretKey
			var bundle release.Signed
			if !unsigned {
				var err error
				if sk, err = release.ReadSecretKey(key, release.RoleSigning); err != nil {
					return fmt.Errorf("release sign: %w", err)
				}
				raw, err := os.ReadFile(keysFile)
				if err != nil {
					return fmt.Errorf("release sign: %w", err)
				}
				if err := json.Unmarshal(raw, &bundle); err != nil {
					return fmt.Errorf("release sign: %s is not a signing-keys bundle: %v (hint: talon release sign-keys)", keysFile, err)
				}
			}
			now := time.Now()
			m, err := release.Assemble(release.AssembleOptions{Dir: dir, Version: ver, Channel: channel, MinimumVersion: minimum, IssuedAt: now, ExpiresAt: now.Add(expires)})
			if err != nil {
				return fmt.Errorf("release sign: %w", err)
			}
			var out []byte
			if unsigned {
				payload, _ := json.Marshal(m)
				out, _ = json.MarshalIndent(release.File{Manifest: release.Signed{Payload: payload}}, "", "  ")
				out = append(out, '\n')
			} else if out, err = release.SignManifest(m, bundle, sk); err != nil {
				return fmt.Errorf("release sign: %w", err)
			}
			if err := release.WriteFileAtomic(filepath.Join(dir, "manifest.json"), out, 0o644); err != nil {
				return err
			}
			state := "signed"
			if unsigned {
				state = "UNSIGNED (sign it with talon release sign --key …)"
			}
			a.errf("%s/manifest.json: %s %s, %d artifact(s), expires %s, %s\n", dir, m.Product, m.Version, len(m.Artifacts), m.ExpiresAt.Format(time.RFC3339), state)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "release directory holding talon_<os>_<arch> binaries")
	c.Flags().StringVar(&ver, "version", "", "release version (must match the binaries' stamped version)")
	c.Flags().StringVar(&channel, "channel", "stable", "release channel")
	c.Flags().StringVar(&minimum, "minimum-version", "", "oldest version still considered safe")
	c.Flags().DurationVar(&expires, "expires", 30*24*time.Hour, "how long the manifest is valid; re-sign before it expires")
	c.Flags().StringVar(&key, "key", "", "signing secret key file")
	c.Flags().StringVar(&keysFile, "signing-keys", "", "root-signed signing-keys bundle (from release sign-keys)")
	c.Flags().BoolVar(&unsigned, "unsigned", false, "write the manifest without signing it")
	return c
}

func (a *app) releaseVerifyCmd() *cobra.Command {
	var rootKeys string
	c := &cobra.Command{
		Use:   "verify [--root-keys KEYS] DIR|MANIFEST",
		Short: "Verify a release: signature chain, expiry and (given a directory) every artifact's hash and size",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, dir := args[0], ""
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				dir, path = path, filepath.Join(path, "manifest.json")
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("release verify: %w", err)
			}
			roots, err := release.RootKeys()
			if rootKeys != "" {
				roots, err = readPublicKeys([]string{rootKeys})
			}
			if err != nil {
				return fmt.Errorf("release verify: %w", err)
			}
			v, err := release.Verify(raw, roots, time.Now())
			if err != nil {
				return fmt.Errorf("release verify: %w", err)
			}
			if dir != "" {
				if err := release.CheckArtifacts(&v.Manifest, dir); err != nil {
					return fmt.Errorf("release verify: %w", err)
				}
			}
			if a.json {
				return a.printJSON(map[string]any{"ok": true, "rootKeyId": v.RootKeyID, "signingKeyId": v.SigningKeyID, "manifest": v.Manifest, "artifactsChecked": dir != ""})
			}
			a.outf("ok: %s %s (%s), signed by %s under root %s, expires %s\n", v.Product, v.Version, v.Channel, v.SigningKeyID, v.RootKeyID, v.ExpiresAt.Format(time.RFC3339))
			for p, art := range v.Artifacts {
				checked := ""
				if dir != "" {
					checked = " ✓"
				}
				a.outf("  %-14s %s %s %d bytes%s\n", p, art.File, art.SHA256, art.Size, checked)
			}
			return nil
		},
	}
	c.Flags().StringVar(&rootKeys, "root-keys", "", "trusted root public keys (base64, comma-separated, or a .pub file); default: those compiled in")
	return c
}

func (a *app) releaseServeCmd() *cobra.Command {
	var dir, listen string
	c := &cobra.Command{
		Use:   "serve --dir DIST [--listen 127.0.0.1:8790]",
		Short: "Serve a release directory over HTTP (for tests and mirrors; put TLS in front for anything else)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usagef("release serve: --dir is required")
			}
			if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
				return fmt.Errorf("release serve: %s has no manifest.json (hint: talon release sign --dir %s)", dir, dir)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("release serve: %w", err)
			}
			fsrv := http.FileServerFS(os.DirFS(dir))
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// Only plain files: no listings, no dotfiles.
					name := strings.TrimPrefix(r.URL.Path, "/")
					if r.Method != http.MethodGet && r.Method != http.MethodHead || name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
						http.NotFound(w, r)
						return
					}
					w.Header().Set("X-Content-Type-Options", "nosniff")
					fsrv.ServeHTTP(w, r)
				}),
				ReadHeaderTimeout: 10 * time.Second,
			}
			a.outf("release server listening on http://%s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("release serve: %w", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "release directory (manifest.json and the files it names)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8790", "address to listen on")
	return c
}
