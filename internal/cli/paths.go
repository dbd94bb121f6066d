package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
)

// paths are the files talon keeps, all under the state directory unless the
// environment says otherwise.
type paths struct {
	StateDir string
	Config   string
	DB       string
	LogDir   string
	LogFile  string
}

func (a *app) paths() (paths, error) {
	dir := a.env.get("TALON_STATE_DIR")
	if dir == "" {
		if a.env.Home == "" {
			return paths{}, errors.New("cannot find the state directory: neither TALON_STATE_DIR nor HOME is set (hint: export TALON_STATE_DIR=/path/to/state)")
		}
		dir = filepath.Join(a.env.Home, ".talon")
	}
	dir, err := filepath.Abs(config.ExpandHome(dir, a.env.Home))
	if err != nil {
		return paths{}, fmt.Errorf("state directory: %w", err)
	}
	cfg := a.env.get("TALON_CONFIG_PATH")
	if cfg == "" {
		cfg = filepath.Join(dir, "talon.json")
	}
	cfg, err = filepath.Abs(config.ExpandHome(cfg, a.env.Home))
	if err != nil {
		return paths{}, fmt.Errorf("config path: %w", err)
	}
	return paths{
		StateDir: dir,
		Config:   cfg,
		DB:       filepath.Join(dir, "talon.db"),
		LogDir:   filepath.Join(dir, "logs"),
		LogFile:  filepath.Join(dir, "logs", "talon.log"),
	}, nil
}

// ensureStateDir creates the state directory 0700 if it is missing. An
// existing directory is left as it is (talon doctor and security audit report
// loose permissions).
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	return nil
}

// ensureConfig writes the commented default config with a fresh gateway token
// when no config file exists yet. It reports whether it created one and the
// token it put there.
func ensureConfig(p paths) (created bool, token secret.Secret, err error) {
	if _, err := os.Lstat(p.Config); err == nil {
		return false, secret.Secret{}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, secret.Secret{}, fmt.Errorf("config %s: %w", p.Config, err)
	}
	if err := os.MkdirAll(filepath.Dir(p.Config), 0o700); err != nil {
		return false, secret.Secret{}, fmt.Errorf("creating config directory: %w", err)
	}
	tok, err := newToken()
	if err != nil {
		return false, secret.Secret{}, err
	}
	if err := config.WriteFileAtomic(p.Config, config.DefaultFile(tok.Reveal()), 0o600); err != nil {
		return false, secret.Secret{}, fmt.Errorf("writing default config: %w", err)
	}
	return true, tok, nil
}

// newToken makes a gateway token from 32 random bytes (43 URL-safe chars).
func newToken() (secret.Secret, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return secret.Secret{}, fmt.Errorf("generating token: %w", err)
	}
	return secret.New(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// loadConfig reads and validates the config, and fills gateway secrets from
// TALON_GATEWAY_TOKEN / TALON_GATEWAY_PASSWORD when the file leaves them unset.
func (a *app) loadConfig(p paths) (*config.Config, *config.File, error) {
	cfg, f, err := config.Load(p.Config, a.env.Lookup)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(p.StateDir); serr != nil {
			return nil, nil, &hintError{msg: fmt.Sprintf("no state directory at %s (hint: run `talon onboard` to create it with a config, or set TALON_STATE_DIR)", p.StateDir), err: err}
		}
		return nil, nil, &hintError{msg: fmt.Sprintf("no config at %s (hint: run `talon onboard` to create one)", p.Config), err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	if cfg.Gateway.Auth.Token.IsZero() {
		if v := a.env.get("TALON_GATEWAY_TOKEN"); v != "" {
			cfg.Gateway.Auth.Token = secret.New(v)
		}
	}
	if cfg.Gateway.Auth.Password.IsZero() {
		if v := a.env.get("TALON_GATEWAY_PASSWORD"); v != "" {
			cfg.Gateway.Auth.Password = secret.New(v)
		}
	}
	return cfg, f, nil
}

// hintError is a message for people about err, which it wraps for
// errors.Is.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }
