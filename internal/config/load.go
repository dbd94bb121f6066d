package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is a configuration file as read from disk.
type File struct {
	Path string
	Raw  []byte
	// Tree is the parsed file before ${VAR} substitution: what `talon
	// config set` edits and writes back. Nil when the file has syntax errors.
	Tree map[string]any
	// Hash is the SHA-256 of Raw, hex-encoded.
	Hash string
}

// Load reads and parses the configuration file at path. When the file
// could be read, the returned File is non-nil even if the configuration is
// invalid, so callers can show or repair it. Errors wrap the cause: use
// errors.Is(err, fs.ErrNotExist) for a missing file and errors.As with
// *ValidationError for an invalid one.
func Load(path string, env LookupEnv) (*Config, *File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config.Load: %w", err)
	}
	f := &File{Path: path, Raw: raw, Hash: hashBytes(raw)}
	tree, dups, err := parseTree(raw)
	if err != nil {
		return nil, f, fmt.Errorf("config.Load: %s:\n%w", path, err)
	}
	f.Tree = tree
	c, err := validateWith(tree, env, dups)
	if err != nil {
		return nil, f, fmt.Errorf("config.Load: %s:\n%w", path, err)
	}
	return c, f, nil
}

func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ExpandHome replaces a leading "~" or "~/" in p with home. Other paths,
// including "~user/...", are returned unchanged.
func ExpandHome(p, home string) string {
	switch {
	case p == "~":
		return home
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(home, p[2:])
	}
	return p
}
