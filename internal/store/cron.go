package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CronJob is a scheduled agent turn.
type CronJob struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Schedule  string    `json:"schedule"`
	Message   string    `json:"message"`
	AgentID   string    `json:"agentId"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	Enabled   bool      `json:"enabled"`
	NextRunAt time.Time `json:"nextRunAt"`
	LastRunAt time.Time `json:"lastRunAt,omitzero"`
}

// CronRun is one run of a job.
type CronRun struct {
	ID        int64     `json:"id"`
	JobID     string    `json:"jobId"`
	StartedAt time.Time `json:"startedAt"`
	RunID     string    `json:"runId,omitempty"`
	Missed    int       `json:"missed,omitempty"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
}

// ErrNoCronJob is returned for an unknown job id.
var ErrNoCronJob = errors.New("no such cron job")

// AddCronJob stores a new job.
func (s *Store) AddCronJob(ctx context.Context, j CronJob) error {
	err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO cron_jobs (id, name, schedule, message, agent_id, created_by, created_at, enabled, next_run_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.Name, j.Schedule, j.Message, j.AgentID, j.CreatedBy, j.CreatedAt.UnixMilli(), j.Enabled, j.NextRunAt.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("store.AddCronJob: %w", err)
	}
	return nil
}

// RemoveCronJob deletes a job (its runs stay for the record).
func (s *Store) RemoveCronJob(ctx context.Context, id string) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM cron_jobs WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store.RemoveCronJob: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoCronJob
		}
		return nil
	})
}

const cronCols = `SELECT id, name, schedule, message, agent_id, created_by, created_at, enabled, next_run_at, last_run_at FROM cron_jobs`

func scanCron(r scanner) (CronJob, error) {
	var j CronJob
	var created, next, last int64
	err := r.Scan(&j.ID, &j.Name, &j.Schedule, &j.Message, &j.AgentID, &j.CreatedBy, &created, &j.Enabled, &next, &last)
	j.CreatedAt, j.NextRunAt = time.UnixMilli(created), time.UnixMilli(next)
	if last > 0 {
		j.LastRunAt = time.UnixMilli(last)
	}
	return j, err
}

// CronJobs lists jobs; with dueBy set, only enabled jobs due by then.
func (s *Store) CronJobs(ctx context.Context, dueBy time.Time) ([]CronJob, error) {
	q, args := cronCols+` ORDER BY created_at`, []any{}
	if !dueBy.IsZero() {
		q, args = cronCols+` WHERE enabled = 1 AND next_run_at <= ? ORDER BY next_run_at`, []any{dueBy.UnixMilli()}
	}
	out, err := readAll(ctx, s, scanCron, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store.CronJobs: %w", err)
	}
	return out, nil
}

// ClaimCronRun moves a due job to its next run time and records the run, in
// one transaction, so a run is claimed exactly once even across restarts.
// It reports false when the job was not due any more (already claimed).
func (s *Store) ClaimCronRun(ctx context.Context, id string, dueAt, next, now time.Time, missed int, runID string) (int64, bool, error) {
	var runRow int64
	claimed := false
	err := s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cron_jobs SET next_run_at = ?, last_run_at = ? WHERE id = ? AND next_run_at = ? AND enabled = 1`,
			next.UnixMilli(), now.UnixMilli(), id, dueAt.UnixMilli())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		claimed = true
		r, err := tx.ExecContext(ctx, `INSERT INTO cron_runs (job_id, started_at, run_id, missed) VALUES (?, ?, ?, ?)`, id, now.UnixMilli(), runID, missed)
		if err != nil {
			return err
		}
		runRow, err = r.LastInsertId()
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store.ClaimCronRun: %w", err)
	}
	return runRow, claimed, nil
}

// FinishCronRun records how a run ended.
func (s *Store) FinishCronRun(ctx context.Context, row int64, status, errText string) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE cron_runs SET status = ?, error = ? WHERE id = ?`, status, errText, row)
		return err
	})
}

// CronRuns lists the latest runs of a job ("" = all jobs), newest first.
func (s *Store) CronRuns(ctx context.Context, jobID string, limit int) ([]CronRun, error) {
	if limit <= 0 {
		limit = 50
	}
	out, err := readAll(ctx, s, func(r scanner) (CronRun, error) {
		var c CronRun
		var started int64
		err := r.Scan(&c.ID, &c.JobID, &started, &c.RunID, &c.Missed, &c.Status, &c.Error)
		c.StartedAt = time.UnixMilli(started)
		return c, err
	}, `SELECT id, job_id, started_at, run_id, missed, status, error FROM cron_runs
		WHERE (? = '' OR job_id = ?) ORDER BY id DESC LIMIT ?`, jobID, jobID, limit)
	if err != nil {
		return nil, fmt.Errorf("store.CronRuns: %w", err)
	}
	return out, nil
}

// UpdateCronJob replaces a job's name, schedule, message, enabled flag and
// next run time in one statement; its id, agent and creator (hence its
// trust) never change.
func (s *Store) UpdateCronJob(ctx context.Context, j CronJob) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cron_jobs SET name = ?, schedule = ?, message = ?, enabled = ?, next_run_at = ? WHERE id = ?`,
			j.Name, j.Schedule, j.Message, j.Enabled, j.NextRunAt.UnixMilli(), j.ID)
		if err != nil {
			return fmt.Errorf("store.UpdateCronJob: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoCronJob
		}
		return nil
	})
}
