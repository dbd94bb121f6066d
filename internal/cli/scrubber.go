package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/secretstore"
)

// secretSet is where the one Scrubber of a process comes from (invariant
// 10). It knows every secret Talon holds: each secret.Secret of the config
// (found by reflection, config.Config.Secrets: credentials, the gateway
// token and password, values substituted from ${VAR} and ${secret:NAME}),
// every `talon secrets` entry and TALON_SECRETS_KEY. It builds the
// Scrubber when the runtime starts and again only when those change: a
// config reload, a change of the secrets file (size or modification
// time). Everything that sends text out reads the LiveScrubber,
// whose swap is atomic; nobody builds a Scrubber or decrypts the secrets
// file per message or per streamed delta.
//
// A secret stays known for the life of the process once seen: a channel
// token changed in the file keeps its running value until a restart (the
// adapter still uses it), and a credential rotated out is still worth
// hiding.
type secretSet struct {
	live     *redact.LiveScrubber
	stateDir string
	envKey   string // TALON_SECRETS_KEY

	mu    sync.Mutex
	names map[string]string // value -> name, every secret seen
	order []redact.Known    // in the order first seen
	stamp fileStamp         // of the secrets file when last read
}

// fileStamp is what changes when a file is rewritten.
type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// newSecretSet builds the first Scrubber from cfg and the secrets file. A
// secrets file that cannot be read is an error: the values in it would
// not be scrubbed.
func (a *app) newSecretSet(p paths, cfg *config.Config) (*secretSet, error) {
	s := &secretSet{live: &redact.LiveScrubber{}, stateDir: p.StateDir, envKey: a.env.get("TALON_SECRETS_KEY"), names: map[string]string{}}
	if err := s.update(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// update adds the secrets of cfg and of the secrets file to the set and
// swaps in a new Scrubber if anything was added. It decrypts the secrets
// file only when the file changed since the last read.
func (s *secretSet) update(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	add := func(name, value string) {
		if value == "" {
			return
		}
		if _, ok := s.names[value]; ok {
			return
		}
		s.names[value] = name
		s.order = append(s.order, redact.Known{Name: name, Value: value})
		added = true
	}
	for _, sec := range cfg.Secrets() {
		add(sec.Key, sec.Value.Reveal())
	}
	add("TALON_SECRETS_KEY", s.envKey) // the key of every other secret
	var err error
	path := secretstore.FilePath(s.stateDir)
	if st := stampOf(path); st != s.stamp || s.live.Get() == nil {
		// Stamped before reading: a file that fails is reported once per
		// change, not at every poll.
		s.stamp = st
		var all map[string]string
		all, err = s.readStore()
		for _, name := range sortedKeys(all) {
			add(name, all[name])
		}
	}
	if added || s.live.Get() == nil {
		s.live.Set(redact.NewScrubber(s.order))
	}
	return err
}

func (s *secretSet) readStore() (map[string]string, error) {
	if _, err := os.Stat(secretstore.FilePath(s.stateDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no secrets; do not create a key for nothing
	}
	st, err := secretstore.Open(s.stateDir, s.envKey)
	if err != nil {
		return nil, fmt.Errorf("reading secrets for the scrubber: %w", err)
	}
	all, err := st.All()
	if err != nil {
		return nil, fmt.Errorf("reading secrets for the scrubber: %w (hint: set TALON_SECRETS_KEY to the key they were stored with, or remove the damaged entry with talon secrets rm)", err)
	}
	return all, nil
}

// watch re-reads the secrets file when it changes (`talon secrets set`
// while the gateway runs), every interval until ctx is done; cfg is the
// config in force. Errors go to onErr.
func (s *secretSet) watch(ctx context.Context, interval time.Duration, cfg func() *config.Config, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		changed := stampOf(secretstore.FilePath(s.stateDir)) != s.stamp
		s.mu.Unlock()
		if changed {
			if err := s.update(cfg()); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
