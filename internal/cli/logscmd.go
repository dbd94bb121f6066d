package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/redact"
)

// logsCmd prints the gateway's log file. Every line passes the process's
// scrubber and the format redactor before it is printed (invariant 10),
// even though the logger already redacts what it writes: a file written by
// an older version, or with redaction off, must not leak through here.
func (a *app) logsCmd() *cobra.Command {
	var follow bool
	var lines int
	var level string
	cmd := &cobra.Command{
		Use:   "logs [-f] [-n N] [--level L] [--json]",
		Short: "Print the gateway's log (secrets redacted); -f follows it",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			minLevel := -10 // debug and up
			if level != "" {
				l, err := logging.ParseLevel(level)
				if err != nil {
					return usagef("logs: --level %q is not one of debug|info|warn|error", level)
				}
				minLevel = int(l)
			}
			if lines < 0 {
				return usagef("logs: -n %d: want 0 or more lines", lines)
			}
			return a.logs(cmd.Context(), follow, lines, minLevel)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines as they are written")
	cmd.Flags().IntVarP(&lines, "lines", "n", 100, "how many of the last lines to print first")
	cmd.Flags().StringVar(&level, "level", "", "only lines at this level or more severe: debug|info|warn|error")
	return cmd
}

func (a *app) logs(ctx context.Context, follow bool, n, minLevel int) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	file := p.LogFile
	scrub := func(s string) string { return s }
	if cfg, _, err := a.loadConfig(p); err == nil {
		if cfg.Logging.File != "" {
			file = config.ExpandHome(cfg.Logging.File, a.env.Home)
		}
		if sec, err := a.newSecretSet(p, cfg); err == nil {
			scrub = sec.live.Scrub
		}
	}
	clean := func(l string) string { return redact.RedactFormats(scrub(l)) }
	last, err := logging.Tail(file, n)
	if errors.Is(err, fs.ErrNotExist) {
		if !follow {
			return errors.New("no log yet at " + file + " (hint: `talon gateway run` writes it)")
		}
		last = nil
	} else if err != nil {
		return err
	}
	for _, l := range last {
		a.printLogLine(clean(l), minLevel)
	}
	if !follow {
		return nil
	}
	return a.followLog(ctx, file, func(l string) { a.printLogLine(clean(l), minLevel) })
}

// followLog prints lines appended to file until ctx ends, starting at its
// current end; a rotated or truncated file is read again from its start.
func (a *app) followLog(ctx context.Context, file string, emit func(string)) error {
	var f *os.File
	var r *bufio.Reader
	var pos int64
	open := func(fromEnd bool) {
		if f != nil {
			f.Close()
		}
		var err error
		f, err = os.Open(file)
		if err != nil {
			f, r = nil, nil
			return
		}
		pos = 0
		if fromEnd {
			pos, _ = f.Seek(0, io.SeekEnd)
		}
		r = bufio.NewReader(f)
	}
	open(true)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	partial := ""
	for {
		if r != nil {
			for {
				chunk, err := r.ReadString('\n')
				pos += int64(len(chunk))
				if err != nil {
					partial += chunk
					break
				}
				emit(strings.TrimRight(partial+chunk, "\n"))
				partial = ""
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fi, err := os.Stat(file)
		switch {
		case err != nil:
			if f != nil {
				f.Close()
				f, r = nil, nil
			}
		case f == nil:
			open(false)
		default:
			cur, _ := f.Stat()
			if !os.SameFile(fi, cur) || fi.Size() < pos {
				open(false) // rotated or truncated
				partial = ""
			}
		}
	}
}

// printLogLine prints one log line if its level passes: as it is, or with
// --json as one JSON object (a text line's key=value pairs become keys).
func (a *app) printLogLine(line string, minLevel int) {
	if strings.TrimSpace(line) == "" {
		return
	}
	rec := parseLogLine(line)
	if lv, ok := rec["level"].(string); ok && minLevel > -10 {
		if l, err := logging.ParseLevel(lv); err == nil && int(l) < minLevel {
			return
		}
	}
	if !a.json {
		a.outf("%s\n", line)
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	a.outf("%s\n", b)
}

// parseLogLine reads a JSON log line, or a slog text line
// (key=value, values quoted when they need it); anything else is {"msg": line}.
func parseLogLine(line string) map[string]any {
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			return m
		}
	}
	out := map[string]any{}
	s := line
	for s != "" {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			return map[string]any{"msg": line}
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return map[string]any{"msg": line}
			}
			val, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		out[key] = val
	}
	return out
}
