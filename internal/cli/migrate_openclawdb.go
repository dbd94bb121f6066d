package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/talonclaw/talon/internal/migrate"
)

// openClawDB reads what current OpenClaw versions keep in their state
// database ($OPENCLAW_STATE_DIR/state/openclaw.sqlite) instead of the
// legacy JSON files: the exec approvals document (table
// exec_approvals_config, row "current") and the cron jobs (table
// cron_jobs). The database and its WAL are copied to a temporary directory
// first and read there, so OpenClaw's files are never opened for writing,
// locked or given a -shm file. Either result is nil when the database or
// its table is missing. System-owned jobs (a declaration key: heartbeat
// monitors, skill reviews) are left out and noted.
func openClawDB(ctx context.Context, dbPath string) (approvals, jobs []byte, notes []migrate.Note, err error) {
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil
	}
	tmp, err := os.MkdirTemp("", "talon-migrate-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(tmp)
	copyDB := filepath.Join(tmp, "openclaw.sqlite")
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(dbPath+suffix, copyDB+suffix); err != nil && !(suffix != "" && errors.Is(err, fs.ErrNotExist)) {
			return nil, nil, nil, fmt.Errorf("copying %s: %w", dbPath+suffix, err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+copyDB)
	if err != nil {
		return nil, nil, nil, err
	}
	defer db.Close()
	has := func(table string) bool {
		var n int
		_ = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		return n > 0
	}
	if has("exec_approvals_config") {
		var raw string
		switch err := db.QueryRowContext(ctx, `SELECT raw_json FROM exec_approvals_config WHERE config_key = 'current'`).Scan(&raw); {
		case err == nil:
			approvals = []byte(raw)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, nil, nil, fmt.Errorf("reading exec approvals from %s: %w", dbPath, err)
		}
	}
	if has("cron_jobs") {
		rows, err := db.QueryContext(ctx, `SELECT job_id, coalesce(declaration_key, ''), enabled, job_json FROM cron_jobs ORDER BY sort_order, job_id`)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reading cron jobs from %s: %w", dbPath, err)
		}
		defer rows.Close()
		list := []json.RawMessage{}
		for rows.Next() {
			var id, decl, raw string
			var enabled bool
			if err := rows.Scan(&id, &decl, &enabled, &raw); err != nil {
				return nil, nil, nil, fmt.Errorf("reading cron jobs from %s: %w", dbPath, err)
			}
			if decl != "" {
				notes = append(notes, migrate.Note{Key: "cron_jobs:" + id, Message: "a job OpenClaw owns itself (" + decl + "); not carried over"})
				continue
			}
			var j map[string]any
			if json.Unmarshal([]byte(raw), &j) != nil || j == nil {
				notes = append(notes, migrate.Note{Key: "cron_jobs:" + id, Message: "its job_json is not an object; not carried over"})
				continue
			}
			// The row's columns are authoritative over the document.
			j["id"], j["enabled"] = id, enabled
			b, _ := json.Marshal(j)
			list = append(list, b)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, nil, fmt.Errorf("reading cron jobs from %s: %w", dbPath, err)
		}
		jobs, _ = json.Marshal(map[string]any{"jobs": list})
	}
	return approvals, jobs, notes, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
