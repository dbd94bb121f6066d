// Package hub is Talon's skills registry: the server (`talon hub serve`)
// and the client `talon skills install NAME` uses.
//
// Invariant 13 on the registry side: publishing needs a publisher token
// (stored only as its SHA-256) and a bundle signed by the publisher key
// bound to the skill's name; the hub scans it, countersigns it and appends
// it to an append-only, hash-chained publication log whose head it signs
// (a checkpoint). A version, once published, never changes. Clients verify
// the countersignature with the registry key they pinned, check that the
// log they are shown extends the one they saw before, and that the bundle
// they received is the one the log records for that version: a registry
// that serves two different bundles for one version is caught.
//
// The server also answers enough of ClawHub's HTTP API (/.well-known/
// clawhub.json and /api/v1/...) for the official clawhub CLI to search and
// install.
package hub

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/talonclaw/talon/internal/skills"
)

// Log entry kinds.
const (
	KindPublish = "publish"
	KindYank    = "yank"
)

// LogEntry is one event in the log: a publication, or a yank of an
// earlier one (same name, version and fingerprint).
type LogEntry struct {
	Index        int64  `json:"index"`
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	Version      string `json:"version"`
	Fingerprint  string `json:"fingerprint"`
	PublisherKey string `json:"publisherKey"`
	Prev         string `json:"prev"`
	Hash         string `json:"hash"`
}

// ZeroHead is the head of the empty log.
var ZeroHead = strings.Repeat("0", 64)

// EntryHash is the chained hash of an entry.
func EntryHash(prev string, index int64, kind, name, version, fingerprint, publisherKey string) string {
	h := sha256.Sum256([]byte("talon-hub-log-v1\n" + prev + "\n" + strconv.FormatInt(index, 10) + "\n" + kind + "\n" + name + "\n" + version + "\n" +
		fingerprint + "\n" + publisherKey + "\n"))
	return hex.EncodeToString(h[:])
}

// Hashed returns e with its Prev and Hash set after prev.
func (e LogEntry) Hashed(prev string) LogEntry {
	e.Prev = prev
	e.Hash = EntryHash(prev, e.Index, e.Kind, e.Name, e.Version, e.Fingerprint, e.PublisherKey)
	return e
}

// Checkpoint is the registry's signature over the log's size and head.
type Checkpoint struct {
	Size      int64  `json:"size"`
	Head      string `json:"head"`
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

func checkpointStatement(size int64, head string) string {
	return "talon-hub-checkpoint-v1\nsize: " + strconv.FormatInt(size, 10) + "\nhead: " + head + "\n"
}

// SignCheckpoint signs a log head.
func SignCheckpoint(key ed25519.PrivateKey, size int64, head string) Checkpoint {
	return Checkpoint{Size: size, Head: head, Key: skills.PublicKeyOf(key),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(checkpointStatement(size, head))))}
}

// LogView is what GET /api/talon/v1/log returns.
type LogView struct {
	Entries    []LogEntry `json:"entries"`
	Checkpoint Checkpoint `json:"checkpoint"`
}

// Errors a client branches on.
var (
	ErrLogForked   = errors.New("the registry's publication log does not extend the one seen before (history rewritten)")
	ErrNotInLog    = errors.New("the bundle is not the one the registry's log records for that version")
	ErrBadLog      = errors.New("the registry's publication log does not verify")
	ErrCheckpoint  = errors.New("the registry's log checkpoint does not verify")
	ErrEquivocated = errors.New("the registry's log records two bundles for one version")
)

// VerifyLog checks a whole log against its signed checkpoint (with the
// pinned registry key) and against what the client saw before (prev, may
// be nil). It returns the new state to remember.
func VerifyLog(v *LogView, registryKey string, prev *skills.RegistryState) (*skills.RegistryState, error) {
	cp := v.Checkpoint
	if registryKey != "" && cp.Key != registryKey {
		return nil, fmt.Errorf("%w: signed by %s, not the configured registry key", ErrCheckpoint, cp.Key)
	}
	pub, err := skills.DecodePublicKey(cp.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || !ed25519.Verify(pub, []byte(checkpointStatement(cp.Size, cp.Head)), sig) {
		return nil, ErrCheckpoint
	}
	if int64(len(v.Entries)) != cp.Size {
		return nil, fmt.Errorf("%w: %d entries for a checkpoint of %d", ErrBadLog, len(v.Entries), cp.Size)
	}
	head := ZeroHead
	seen := map[string]string{}
	for i, e := range v.Entries {
		if e.Index != int64(i) || e.Prev != head || EntryHash(head, e.Index, e.Kind, e.Name, e.Version, e.Fingerprint, e.PublisherKey) != e.Hash {
			return nil, fmt.Errorf("%w at entry %d", ErrBadLog, i)
		}
		k := e.Name + "@" + e.Version
		switch e.Kind {
		case KindPublish:
			if _, dup := seen[k]; dup {
				return nil, fmt.Errorf("%w: %s", ErrEquivocated, k)
			}
			seen[k] = e.Fingerprint
		case KindYank:
			if fp, ok := seen[k]; !ok || fp != e.Fingerprint {
				return nil, fmt.Errorf("%w: entry %d yanks %s, which was not published with that fingerprint", ErrBadLog, i, k)
			}
		default:
			return nil, fmt.Errorf("%w: entry %d has kind %q", ErrBadLog, i, e.Kind)
		}
		head = e.Hash
		if prev != nil && int64(i)+1 == prev.LogSize && head != prev.LogHead {
			return nil, ErrLogForked
		}
	}
	if head != cp.Head {
		return nil, fmt.Errorf("%w: head mismatch", ErrBadLog)
	}
	if prev != nil && cp.Size < prev.LogSize {
		return nil, fmt.Errorf("%w: it shrank from %d to %d entries", ErrLogForked, prev.LogSize, cp.Size)
	}
	return &skills.RegistryState{LogSize: cp.Size, LogHead: cp.Head}, nil
}

// CheckBundleInLog checks that the log records exactly this bundle for
// its name and version, at the index its countersignature names.
func CheckBundleInLog(v *LogView, b *skills.Bundle) error {
	if b.Counter == nil {
		return errors.New("the bundle has no registry countersignature")
	}
	idx := b.Counter.LogIndex
	if idx < 0 || idx >= int64(len(v.Entries)) {
		return fmt.Errorf("%w: log index %d is not in the log", ErrNotInLog, idx)
	}
	e := v.Entries[idx]
	if e.Kind != KindPublish {
		return fmt.Errorf("%w: log entry %d is not a publication", ErrNotInLog, idx)
	}
	pub := ""
	if b.Meta.Publisher != nil {
		pub = b.Meta.Publisher.Key
	}
	if e.Name != b.Meta.Name || e.Version != b.Meta.Version || e.Fingerprint != b.Meta.Fingerprint || e.PublisherKey != pub {
		return fmt.Errorf("%w: %s@%s is logged with fingerprint %s, the bundle has %s", ErrNotInLog, e.Name, e.Version, short(e.Fingerprint), short(b.Meta.Fingerprint))
	}
	return nil
}

// Latest is the newest version of name that the log shows published and
// not yanked ("" when none). Clients take "latest" from the signed log,
// not from what the registry says, so it cannot hold back an update or
// hand out a version it yanked.
func (v *LogView) Latest(name string) string {
	yanked := map[string]bool{}
	for _, e := range v.Entries {
		if e.Name == name && e.Kind == KindYank {
			yanked[e.Version] = true
		}
	}
	best := ""
	for _, e := range v.Entries {
		if e.Name == name && e.Kind == KindPublish && !yanked[e.Version] && (best == "" || skills.CompareVersions(e.Version, best) > 0) {
			best = e.Version
		}
	}
	return best
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
