package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/skills"
)

const schema = `
CREATE TABLE IF NOT EXISTS publishers (
	handle TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS skills (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	publisher_key TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
	name TEXT NOT NULL,
	version TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	log_index INTEGER NOT NULL,
	bundle BLOB NOT NULL,
	findings TEXT NOT NULL,
	yanked INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS log (
	idx INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	version TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	publisher_key TEXT NOT NULL,
	prev TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
	id TEXT PRIMARY KEY,
	handle TEXT NOT NULL,
	path TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	data BLOB,
	created_at INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS log_append_only_u BEFORE UPDATE ON log BEGIN SELECT RAISE(ABORT, 'the publication log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_append_only_d BEFORE DELETE ON log BEGIN SELECT RAISE(ABORT, 'the publication log is append-only'); END;
`

// Store is the hub's data directory: hub.db (SQLite) and hub.key (the
// registry's ed25519 key, 0600).
type Store struct {
	db  *sql.DB
	key ed25519.PrivateKey
	now func() time.Time
}

// OpenStore opens (creating) the hub's data directory.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hub.OpenStore: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, "hub.key"))
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, "hub.db")
	if f, err := os.OpenFile(dbPath, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("hub.OpenStore: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("hub.OpenStore: %w", err)
	}
	return &Store{db: db, key: key, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// PublicKey is the registry's public key (what clients pin in
// skills.registry.publicKey).
func (s *Store) PublicKey() string { return skills.PublicKeyOf(s.key) }

func loadOrCreateKey(p string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(p)
	if err == nil {
		k, err := skills.DecodeSecretKey(string(data))
		if err != nil {
			return nil, fmt.Errorf("hub: %s: %v", p, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hub: %w", err)
	}
	k, err := skills.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := config.WriteFileAtomic(p, []byte(skills.EncodeSecretKey(k)), 0o600); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return k, nil
}

// TokenPrefix starts every publisher token.
const TokenPrefix = "thub_"

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// CreateToken makes (or replaces) the publisher token of handle. Only its
// hash is stored.
func (s *Store) CreateToken(ctx context.Context, handle string) (string, error) {
	if !skills.ValidName(handle) {
		return "", fmt.Errorf("handle %q must be lowercase letters, digits and hyphens", handle)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	_, err := s.db.ExecContext(ctx, `INSERT INTO publishers(handle, token_hash, created_at) VALUES(?,?,?)
		ON CONFLICT(handle) DO UPDATE SET token_hash=excluded.token_hash`, handle, hashToken(tok), s.now().Unix())
	if err != nil {
		return "", fmt.Errorf("hub.CreateToken: %w", err)
	}
	return tok, nil
}

// Publisher returns the handle a token belongs to, or "".
func (s *Store) Publisher(ctx context.Context, tok string) string {
	if !strings.HasPrefix(tok, TokenPrefix) {
		return ""
	}
	var h string
	if err := s.db.QueryRowContext(ctx, `SELECT handle FROM publishers WHERE token_hash=?`, hashToken(tok)).Scan(&h); err != nil {
		return ""
	}
	return h
}

// PublishError is a publication refused for a reason the publisher can fix.
type PublishError struct {
	Status int
	Msg    string
}

func (e *PublishError) Error() string { return e.Msg }

// Published is the result of a publication.
type Published struct {
	Name        string           `json:"name"`
	Version     string           `json:"version"`
	Fingerprint string           `json:"fingerprint"`
	LogIndex    int64            `json:"logIndex"`
	Findings    []skills.Finding `json:"findings"`
}

// Publish verifies, scans, countersigns, logs and stores a bundle from
// handle. registryURL names the registry in the countersignature.
func (s *Store) Publish(ctx context.Context, handle string, data []byte, registryURL string) (*Published, error) {
	b, err := skills.DecodeBundle(data, skills.DefaultLimits)
	if err != nil {
		return nil, &PublishError{400, err.Error()}
	}
	if !b.Signed() {
		return nil, &PublishError{400, "the bundle is unsigned (sign it: talon skills pack DIR --key FILE --out BUNDLE)"}
	}
	return s.publish(ctx, handle, b, registryURL)
}

// publish is Publish for a decoded bundle; an unsigned one comes only from
// the clawhub CLI's flow (PublishFiles).
func (s *Store) publish(ctx context.Context, handle string, b *skills.Bundle, registryURL string) (*Published, error) {
	sk, err := b.Verify()
	if err != nil {
		return nil, &PublishError{400, err.Error()}
	}
	pub := ""
	if b.Signed() {
		pub = b.Meta.Publisher.Key
	}
	findings := skills.Scan(b.Files)
	if skills.Worst(findings) == skills.SevCritical {
		var ids []string
		for _, f := range findings {
			if f.Severity == skills.SevCritical {
				ids = append(ids, f.CheckID+" ("+f.File+")")
			}
		}
		return nil, &PublishError{422, "the scanner found critical problems: " + strings.Join(ids, ", ")}
	}
	b.Counter = nil
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var owner, pubKey string
	err = tx.QueryRowContext(ctx, `SELECT owner, publisher_key FROM skills WHERE name=?`, b.Meta.Name).Scan(&owner, &pubKey)
	now := s.now().Unix()
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO skills(name, owner, publisher_key, description, created_at, updated_at) VALUES(?,?,?,?,?,?)`,
			b.Meta.Name, handle, pub, sk.Description, now, now); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case owner != handle:
		return nil, &PublishError{403, fmt.Sprintf("%s belongs to publisher %s", b.Meta.Name, owner)}
	case pubKey != "" && pub == "":
		return nil, &PublishError{403, fmt.Sprintf("%s is signed (key %s); it cannot be published unsigned (use talon skills publish)", b.Meta.Name, pubKey)}
	case pubKey != "" && pubKey != pub:
		return nil, &PublishError{403, fmt.Sprintf("%s is signed with %s; this bundle is signed with another key", b.Meta.Name, pubKey)}
	default:
		// The first signed version of a skill published unsigned binds its key.
		if _, err := tx.ExecContext(ctx, `UPDATE skills SET description=?, updated_at=?, publisher_key=? WHERE name=?`, sk.Description, now, pub, b.Meta.Name); err != nil {
			return nil, err
		}
	}
	var n int
	tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE name=? AND version=?`, b.Meta.Name, b.Meta.Version).Scan(&n)
	if n > 0 {
		return nil, &PublishError{409, fmt.Sprintf("%s@%s is already published; versions never change (publish a new version)", b.Meta.Name, b.Meta.Version)}
	}
	size, err := appendLog(ctx, tx, LogEntry{Kind: KindPublish, Name: b.Meta.Name, Version: b.Meta.Version, Fingerprint: b.Meta.Fingerprint, PublisherKey: pub})
	if err != nil {
		return nil, err
	}
	b.Countersign(s.key, registryURL, size)
	enc, err := b.Encode()
	if err != nil {
		return nil, err
	}
	fj := findingsJSON(findings)
	if _, err := tx.ExecContext(ctx, `INSERT INTO versions(name, version, fingerprint, log_index, bundle, findings, created_at) VALUES(?,?,?,?,?,?,?)`,
		b.Meta.Name, b.Meta.Version, b.Meta.Fingerprint, size, enc, fj, now); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("hub.Publish: %w", err)
	}
	return &Published{Name: b.Meta.Name, Version: b.Meta.Version, Fingerprint: b.Meta.Fingerprint, LogIndex: size, Findings: findings}, nil
}

// Yank hides a version from resolution (it stays downloadable by exact
// version and stays in the log).
func (s *Store) Yank(ctx context.Context, handle, name, version string) error {
	var owner string
	if err := s.db.QueryRowContext(ctx, `SELECT owner FROM skills WHERE name=?`, name).Scan(&owner); err != nil {
		return &PublishError{404, "no such skill"}
	}
	if owner != handle {
		return &PublishError{403, fmt.Sprintf("%s belongs to publisher %s", name, owner)}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var fp string
	var yanked bool
	if err := tx.QueryRowContext(ctx, `SELECT fingerprint, yanked FROM versions WHERE name=? AND version=?`, name, version).Scan(&fp, &yanked); err != nil {
		return &PublishError{404, "no such version"}
	}
	if yanked {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE versions SET yanked=1 WHERE name=? AND version=?`, name, version); err != nil {
		return err
	}
	if _, err := appendLog(ctx, tx, LogEntry{Kind: KindYank, Name: name, Version: version, Fingerprint: fp}); err != nil {
		return err
	}
	return tx.Commit()
}

// appendLog adds e at the end of the log inside tx and returns its index.
func appendLog(ctx context.Context, tx *sql.Tx, e LogEntry) (int64, error) {
	var size int64
	head := ZeroHead
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM log`).Scan(&size); err != nil {
		return 0, err
	}
	if size > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM log WHERE idx=?`, size-1).Scan(&head); err != nil {
			return 0, err
		}
	}
	e.Index = size
	e = e.Hashed(head)
	_, err := tx.ExecContext(ctx, `INSERT INTO log(idx, kind, name, version, fingerprint, publisher_key, prev, hash) VALUES(?,?,?,?,?,?,?,?)`,
		e.Index, e.Kind, e.Name, e.Version, e.Fingerprint, e.PublisherKey, e.Prev, e.Hash)
	return size, err
}

// Log returns the whole publication log and a fresh signed checkpoint.
func (s *Store) Log(ctx context.Context) (*LogView, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, kind, name, version, fingerprint, publisher_key, prev, hash FROM log ORDER BY idx`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v := &LogView{Entries: []LogEntry{}}
	head := ZeroHead
	for rows.Next() {
		var e LogEntry
		if err := rows.Scan(&e.Index, &e.Kind, &e.Name, &e.Version, &e.Fingerprint, &e.PublisherKey, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		v.Entries = append(v.Entries, e)
		head = e.Hash
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	v.Checkpoint = SignCheckpoint(s.key, int64(len(v.Entries)), head)
	return v, nil
}

// VersionInfo describes one published version.
type VersionInfo struct {
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint"`
	LogIndex    int64  `json:"logIndex"`
	Yanked      bool   `json:"yanked"`
	CreatedAt   int64  `json:"createdAt"`
}

// SkillInfo describes one skill.
type SkillInfo struct {
	Name         string        `json:"name"`
	Description  string        `json:"description"`
	Owner        string        `json:"owner"`
	PublisherKey string        `json:"publisherKey"`
	CreatedAt    int64         `json:"createdAt"`
	UpdatedAt    int64         `json:"updatedAt"`
	Versions     []VersionInfo `json:"versions"`
	Latest       string        `json:"latest,omitempty"`
}

// Skill returns a skill with its versions (newest first), or nil.
func (s *Store) Skill(ctx context.Context, name string) (*SkillInfo, error) {
	si := &SkillInfo{Name: name}
	err := s.db.QueryRowContext(ctx, `SELECT owner, publisher_key, description, created_at, updated_at FROM skills WHERE name=?`, name).
		Scan(&si.Owner, &si.PublisherKey, &si.Description, &si.CreatedAt, &si.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version, fingerprint, log_index, yanked, created_at FROM versions WHERE name=? ORDER BY log_index DESC`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v VersionInfo
		if err := rows.Scan(&v.Version, &v.Fingerprint, &v.LogIndex, &v.Yanked, &v.CreatedAt); err != nil {
			return nil, err
		}
		si.Versions = append(si.Versions, v)
		if si.Latest == "" && !v.Yanked {
			si.Latest = v.Version
		}
	}
	return si, rows.Err()
}

// Search finds skills whose name or description contains q (all when q
// is empty), newest first.
func (s *Store) Search(ctx context.Context, q string, limit int) ([]SkillInfo, error) {
	like := "%" + strings.NewReplacer("%", `\%`, "_", `\_`).Replace(strings.ToLower(q)) + "%"
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM skills WHERE lower(name) LIKE ? ESCAPE '\' OR lower(description) LIKE ? ESCAPE '\'
		ORDER BY (lower(name) LIKE ? ESCAPE '\') DESC, updated_at DESC LIMIT ?`, like, like, like, limit)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	var out []SkillInfo
	for _, n := range names {
		si, err := s.Skill(ctx, n)
		if err != nil {
			return nil, err
		}
		if si != nil && si.Latest != "" {
			out = append(out, *si)
		}
	}
	return out, nil
}

// Bundle returns the stored (countersigned) bundle of name@version.
func (s *Store) Bundle(ctx context.Context, name, version string) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT bundle FROM versions WHERE name=? AND version=?`, name, version).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

const maxPendingUploads = 2048

// UploadTicket registers one file the clawhub CLI is about to upload.
func (s *Store) UploadTicket(ctx context.Context, handle, path, sha256hex string, size int64) (string, error) {
	if err := skills.CheckPath(path); err != nil {
		return "", &PublishError{400, err.Error()}
	}
	if size < 0 || size > skills.DefaultLimits.MaxFileBytes {
		return "", &PublishError{413, fmt.Sprintf("%s is over %d bytes", path, skills.DefaultLimits.MaxFileBytes)}
	}
	// Abandoned uploads expire after a day; a publisher holds at most
	// maxPendingUploads at once.
	s.db.ExecContext(ctx, `DELETE FROM uploads WHERE created_at < ?`, s.now().Add(-24*time.Hour).Unix())
	var pending int
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM uploads WHERE handle=?`, handle).Scan(&pending)
	if pending >= maxPendingUploads {
		return "", &PublishError{429, "too many pending uploads; publish or wait a day"}
	}
	b := make([]byte, 18)
	rand.Read(b)
	id := "up_" + base64.RawURLEncoding.EncodeToString(b)
	_, err := s.db.ExecContext(ctx, `INSERT INTO uploads(id, handle, path, sha256, size, created_at) VALUES(?,?,?,?,?,?)`,
		id, handle, path, strings.ToLower(sha256hex), size, s.now().Unix())
	return id, err
}

// Upload stores the bytes of a ticket; they must match its size and hash.
func (s *Store) Upload(ctx context.Context, handle, id string, data []byte) error {
	var sum string
	var size int64
	if err := s.db.QueryRowContext(ctx, `SELECT sha256, size FROM uploads WHERE id=? AND handle=? AND data IS NULL`, id, handle).Scan(&sum, &size); err != nil {
		return &PublishError{404, "no such upload ticket"}
	}
	h := sha256.Sum256(data)
	if int64(len(data)) != size || hex.EncodeToString(h[:]) != sum {
		return &PublishError{400, "the upload does not match the size and sha256 announced"}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE uploads SET data=? WHERE id=?`, data, id)
	return err
}

// UploadedFile names one uploaded file of a clawhub publication.
type UploadedFile struct {
	Path      string `json:"path"`
	StorageID string `json:"storageId"`
	SHA256    string `json:"sha256"`
}

// PublishFiles publishes uploaded files as an unsigned version (the
// clawhub CLI's publish flow): the same checks as Publish except the
// publisher signature, so Talon clients install it only with
// --allow-unsigned, restricted.
func (s *Store) PublishFiles(ctx context.Context, handle, name, version string, files []UploadedFile, registryURL string) (*Published, error) {
	if !skills.ValidName(name) || !skills.ValidVersion(version) {
		return nil, &PublishError{400, fmt.Sprintf("%q@%q is not a valid skill name and version", name, version)}
	}
	if len(files) == 0 || len(files) > skills.DefaultLimits.MaxFiles {
		return nil, &PublishError{400, "a publication needs 1 to 512 files"}
	}
	b := &skills.Bundle{Files: map[string][]byte{}, Mode: map[string]fs.FileMode{}}
	var total int64
	for _, f := range files {
		var path string
		var data []byte
		err := s.db.QueryRowContext(ctx, `SELECT path, data FROM uploads WHERE id=? AND handle=? AND data IS NOT NULL`, f.StorageID, handle).Scan(&path, &data)
		if err != nil || path != f.Path {
			return nil, &PublishError{400, fmt.Sprintf("%s was not uploaded", f.Path)}
		}
		if _, dup := b.Files[path]; dup {
			return nil, &PublishError{400, path + " appears twice"}
		}
		total += int64(len(data))
		if total > skills.DefaultLimits.MaxTotal {
			return nil, &PublishError{413, "the files are over the size limit"}
		}
		b.Files[path] = data
		b.Mode[path] = 0o644
	}
	b.Meta = skills.Meta{Format: skills.BundleFormat, Name: name, Version: version, Files: skills.ManifestOf(b.Files, b.Mode)}
	b.Meta.Fingerprint = b.Meta.Files.Fingerprint()
	p, err := s.publish(ctx, handle, b, registryURL)
	if err == nil {
		for _, f := range files {
			s.db.ExecContext(ctx, `DELETE FROM uploads WHERE id=?`, f.StorageID)
		}
	}
	return p, err
}
