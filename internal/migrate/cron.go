package migrate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/adhocore/gronx"
)

// CronJob is one OpenClaw job as a Talon job.
type CronJob struct {
	// Source is the OpenClaw job id.
	Source   string
	Name     string
	Schedule string
	Message  string
}

// CronNote reports what happened to one OpenClaw job.
type CronNote struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	// Action is "add", "skip" or, filled in by the caller, "exists".
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// cron maps the jobs of cron/jobs.json.
func (m *mapper) cron() error {
	m.skip("cron.failureAlert", "Talon reports failed runs in talon cron runs and the audit log")
	m.skip("cron.sessionRetention", "Talon keeps cron sessions like any other (retention.transcriptsDays)")
	m.skip("cron.webhookToken", "Talon has no cron webhooks")
	m.skip("cron.triggers", "Talon has no trigger scripts")
	m.skip("cron.skipMissedJobs", "Talon skips missed runs and records how many (talon cron runs)")
	disabled := false
	if v, ok := m.get("cron.enabled"); ok && v == false {
		disabled = true
	}
	if m.in.CronJobs == nil {
		return nil
	}
	var raw json.RawMessage = m.in.CronJobs
	var doc struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Jobs == nil {
		if err2 := json.Unmarshal(raw, &doc.Jobs); err2 != nil {
			return fmt.Errorf("%w: cron/jobs.json: not a job list", ErrBadInput)
		}
	}
	for i, jr := range doc.Jobs {
		var j struct {
			ID       string         `json:"id"`
			Name     string         `json:"name"`
			Enabled  *bool          `json:"enabled"`
			AgentID  string         `json:"agentId"`
			Schedule map[string]any `json:"schedule"`
			Payload  map[string]any `json:"payload"`
			Trigger  any            `json:"trigger"`
			Delivery any            `json:"delivery"`
		}
		if err := json.Unmarshal(jr, &j); err != nil {
			m.rep.CronJobs = append(m.rep.CronJobs, CronNote{ID: fmt.Sprint(i), Action: "skip", Reason: "not the shape OpenClaw documents"})
			continue
		}
		if j.ID == "" {
			j.ID = fmt.Sprint(i)
		}
		note := CronNote{ID: j.ID, Name: j.Name, Action: "skip"}
		skip := func(format string, args ...any) {
			note.Reason = fmt.Sprintf(format, args...)
			m.rep.CronJobs = append(m.rep.CronJobs, note)
		}
		switch {
		case disabled:
			skip("cron is disabled in OpenClaw (cron.enabled false)")
			continue
		case j.Enabled != nil && !*j.Enabled:
			skip("disabled in OpenClaw")
			continue
		case j.AgentID != "" && j.AgentID != "main":
			skip("runs as agent %q; Talon runs one agent (main), whose tools may be wider", j.AgentID)
			continue
		case j.Trigger != nil:
			skip("has a trigger script; Talon has no trigger scripts")
			continue
		}
		sched, why := cronSchedule(j.Schedule)
		if sched == "" {
			skip("%s", why)
			continue
		}
		note.Schedule = sched
		msg := ""
		kind, _ := j.Payload["kind"].(string)
		switch kind {
		case "agentTurn":
			msg, _ = j.Payload["message"].(string)
		case "systemEvent":
			msg, _ = j.Payload["text"].(string)
		default:
			skip("payload %q is not an agent message; Talon's jobs are agent turns (a command payload would run outside the exec policy)", kind)
			continue
		}
		if strings.TrimSpace(msg) == "" || len(msg) > 8000 {
			skip("the message must be 1 to 8000 characters")
			continue
		}
		var notes []string
		if why != "" {
			notes = append(notes, why)
		}
		if kind == "systemEvent" {
			notes = append(notes, "a system event becomes an agent turn in the job's own session")
		}
		for _, k := range []string{"model", "fallbacks", "thinking", "tools"} {
			if _, ok := j.Payload[k]; ok {
				notes = append(notes, "payload."+k+" not carried over")
			}
		}
		if j.Delivery != nil {
			notes = append(notes, "delivery not carried over: the reply stays in the job's session (the agent can send it with the message tool)")
		}
		note.Action, note.Reason = "add", strings.Join(notes, "; ")
		m.rep.CronJobs = append(m.rep.CronJobs, note)
		m.jobs = append(m.jobs, CronJob{Source: j.ID, Name: j.Name, Schedule: sched, Message: msg})
	}
	return nil
}

// cronSchedule turns an OpenClaw schedule into a cron expression, with a
// note when the meaning changes; "" and the reason when it cannot.
func cronSchedule(s map[string]any) (string, string) {
	kind, _ := s["kind"].(string)
	switch kind {
	case "cron":
		expr, _ := s["expr"].(string)
		expr = strings.TrimSpace(expr)
		if !gronx.IsValid(expr) {
			return "", fmt.Sprintf("schedule %q is not a cron expression Talon reads", expr)
		}
		note := ""
		if tz, _ := s["tz"].(string); tz != "" {
			note = "time zone " + tz + " not carried over: Talon evaluates schedules in the gateway's local time"
		}
		return expr, note
	case "every":
		ms, _ := s["everyMs"].(float64)
		min := int64(ms) / 60000
		switch {
		case ms <= 0 || int64(ms)%60000 != 0:
			return "", "an interval that is not whole minutes has no cron equivalent"
		case min < 60 && 60%min == 0:
			return fmt.Sprintf("*/%d * * * *", min), "every " + fmt.Sprint(min) + "m, aligned to the clock"
		case min == 60:
			return "0 * * * *", "every hour, on the hour"
		case min%60 == 0 && min < 1440 && 24%(min/60) == 0:
			return fmt.Sprintf("0 */%d * * *", min/60), "every " + fmt.Sprint(min/60) + "h, aligned to the clock"
		case min == 1440:
			return "0 0 * * *", "daily at midnight"
		}
		return "", fmt.Sprintf("an interval of %d minutes has no cron equivalent", min)
	case "at":
		return "", "a one-shot job (at); Talon's jobs repeat"
	}
	return "", fmt.Sprintf("schedule kind %q has no Talon equivalent", kind)
}
