// Package logging sets up Talon's log/slog logger: a console sink and a
// size-rotated log file, text or JSON, with secrets scrubbed on the way out.
//
// Guarantees (invariant 10, secrets never reach the logs):
//
//   - An attribute whose key names a credential (redact.IsSensitiveKey:
//     token, password, apiKey, authorization, cookie, …), or that sits in a
//     group with such a name, is written as "***", whatever its value and
//     whatever the options. So are such keys inside string-keyed maps, which
//     are logged as groups for that reason.
//   - A secret.Secret is written as "***" (by its LogValue), in any
//     attribute, group or map.
//   - The message, every string value and every error value pass through
//     Options.Scrub, the process's one scrubber (redact.LiveScrubber),
//     which removes every secret value Talon knows in any encoding it takes
//     (raw, percent-encoded in any case, base64, JSON); other values are
//     scrubbed in their encoded form. This does not depend on
//     RedactSensitive.
//   - With RedactSensitive on, they also pass through redact.Redact,
//     which removes credential formats (API keys, bearer tokens, private
//     keys, …) that nobody told Talon about.
//   - The log file is created 0600, its directory (when missing) 0700, and
//     rotated files keep 0600. Tail redacts what it returns, so a file
//     written with redaction off is still scrubbed when it is served.
//
// Attributes bound with Logger.With are formatted when With is called, under
// the RedactSensitive setting in force then; SetRedact affects what is
// logged afterwards. The sensitive-key and Secret rules do not depend on it.
//
// One process writes a given log file: rotation is not coordinated between
// processes.
package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/secret"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxSizeBytes = 10 << 20 // 10 MiB
	DefaultMaxFiles     = 5
)

// Options configures New.
type Options struct {
	// Level is the minimum level logged: debug, info, warn or error
	// (case-insensitive). Empty means info.
	Level string
	// Format is text (slog's key=value lines) or json (one object per
	// line). Empty means text.
	Format string
	// File is the path of the log file; empty means no file. Its directory
	// is created (0700) if missing.
	File string
	// MaxSizeBytes: the file is rotated before a record would make it
	// larger than this. A single record larger than this gets a file of
	// its own. Zero means DefaultMaxSizeBytes.
	MaxSizeBytes int64
	// MaxFiles is how many rotated files are kept: File.1 (newest) …
	// File.N (oldest). Zero means DefaultMaxFiles.
	MaxFiles int
	// Stderr is the console sink; nil means none.
	Stderr io.Writer
	// RedactSensitive passes the message and string and error values
	// through redact.Redact. Sensitive keys and Secrets are masked
	// regardless.
	RedactSensitive bool
	// Scrub removes known secret values from the message and every string,
	// error and encoded value, whatever RedactSensitive says; nil removes
	// none. It is the process's one scrubber (redact.LiveScrubber.Scrub).
	Scrub func(string) string
}

// Logger is a *slog.Logger with live level and redaction switches and the
// log file it owns. It is safe for concurrent use.
type Logger struct {
	*slog.Logger
	level  *slog.LevelVar
	redact atomic.Bool
	scrub  func(string) string // nil: none
	file   *rotatingFile       // nil without Options.File
}

// New returns a Logger writing to opts.Stderr and opts.File.
func New(opts Options) (*Logger, error) {
	l := &Logger{level: new(slog.LevelVar)}
	if opts.Level != "" {
		lv, err := ParseLevel(opts.Level)
		if err != nil {
			return nil, fmt.Errorf("logging.New: %w", err)
		}
		l.level.Set(lv)
	}
	format := strings.ToLower(opts.Format)
	if format != "" && format != "text" && format != "json" {
		return nil, fmt.Errorf("logging.New: format %q is not one of text|json", opts.Format)
	}
	if opts.MaxSizeBytes < 0 {
		return nil, fmt.Errorf("logging.New: negative MaxSizeBytes %d", opts.MaxSizeBytes)
	}
	if opts.MaxFiles < 0 {
		return nil, fmt.Errorf("logging.New: negative MaxFiles %d", opts.MaxFiles)
	}
	l.redact.Store(opts.RedactSensitive)
	l.scrub = opts.Scrub

	var sinks fanout
	if opts.Stderr != nil {
		sinks = append(sinks, opts.Stderr)
	}
	if opts.File != "" {
		size, files := opts.MaxSizeBytes, opts.MaxFiles
		if size == 0 {
			size = DefaultMaxSizeBytes
		}
		if files == 0 {
			files = DefaultMaxFiles
		}
		f, err := openRotating(opts.File, size, files)
		if err != nil {
			return nil, fmt.Errorf("logging.New: %w", err)
		}
		l.file = f
		sinks = append(sinks, f)
	}
	var w io.Writer = io.Discard
	if len(sinks) > 0 {
		w = sinks
	}

	hopts := &slog.HandlerOptions{Level: l.level, ReplaceAttr: l.replaceAttr(format == "json")}
	if format == "json" {
		l.Logger = slog.New(slog.NewJSONHandler(w, hopts))
	} else {
		l.Logger = slog.New(slog.NewTextHandler(w, hopts))
	}
	return l, nil
}

// ParseLevel parses debug, info, warn or error (case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("logging: level %q is not one of debug|info|warn|error", s)
}

// SetLevel changes the minimum level of this logger and every logger
// derived from it, at once.
func (l *Logger) SetLevel(level string) error {
	lv, err := ParseLevel(level)
	if err != nil {
		return fmt.Errorf("logging.SetLevel: %w", err)
	}
	l.level.Set(lv)
	return nil
}

// Level is the current minimum level.
func (l *Logger) Level() slog.Level { return l.level.Level() }

// SetRedact turns redaction of free text (Options.RedactSensitive) on or
// off for records logged from now on.
func (l *Logger) SetRedact(on bool) { l.redact.Store(on) }

// Close closes the log file, if any. The console sink is not closed. Records
// logged after Close go to the console only.
func (l *Logger) Close() error {
	if l.file == nil {
		return nil
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("logging.Close: %w", err)
	}
	return nil
}

// replaceAttr is the slog ReplaceAttr hook that enforces the package's
// guarantees. It sees every non-group attribute, with LogValuers (such as
// secret.Secret) already resolved.
func (l *Logger) replaceAttr(jsonFormat bool) func([]string, slog.Attr) slog.Attr {
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			switch a.Key {
			case slog.TimeKey, slog.LevelKey, slog.SourceKey:
				return a
			case slog.MessageKey:
				a.Value = slog.StringValue(l.clean(a.Value.String()))
				return a
			}
		}
		if redact.IsSensitiveKey(a.Key) || slices.ContainsFunc(groups, redact.IsSensitiveKey) {
			if a.Value.Kind() == slog.KindString && a.Value.String() == "" {
				return a // "token is empty" is worth seeing and reveals nothing
			}
			a.Value = slog.StringValue(secret.Redacted)
			return a
		}
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(l.clean(a.Value.String()))
		case slog.KindAny:
			v := a.Value.Any()
			if g, ok := mapAsGroup(v); ok {
				// The handler calls this hook again for each member,
				// with this key among the groups.
				a.Value = g
				return a
			}
			if l.scrub != nil || l.redact.Load() {
				a.Value = redactAny(v, jsonFormat, l.clean)
			}
		}
		return a
	}
}

// clean is what free text goes through: the scrubber, then Redact when
// RedactSensitive is on.
func (l *Logger) clean(s string) string {
	if l.scrub != nil {
		s = l.scrub(s)
	}
	if l.redact.Load() {
		s = redact.Redact(s)
	}
	return s
}

// mapAsGroup turns a non-empty map with string keys (http.Header,
// map[string]any, …) into a group value, so that its keys pass the
// sensitive-key check like any attribute's.
func mapAsGroup(v any) (slog.Value, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String || rv.Len() == 0 {
		return slog.Value{}, false
	}
	attrs := make([]slog.Attr, 0, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		attrs = append(attrs, slog.Any(it.Key().String(), it.Value().Interface()))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return slog.GroupValue(attrs...), true
}

// redactAny redacts a value of no basic kind the way the handler will
// encode it: an error by its message, anything else by its JSON (json
// format) or %+v (text format) form. The value is left as it is when
// redaction changes nothing.
func redactAny(v any, jsonFormat bool, clean func(string) string) slog.Value {
	if err, ok := v.(error); ok {
		return slog.StringValue(clean(err.Error()))
	}
	if jsonFormat {
		b, err := json.Marshal(v)
		if err != nil {
			return slog.AnyValue(v) // the handler reports the error itself
		}
		r := clean(string(b))
		if r == string(b) {
			return slog.AnyValue(v)
		}
		if json.Valid([]byte(r)) {
			return slog.AnyValue(json.RawMessage(r))
		}
		return slog.StringValue(r)
	}
	s := fmt.Sprintf("%+v", v)
	if r := clean(s); r != s {
		return slog.StringValue(r)
	}
	return slog.AnyValue(v)
}

// fanout writes each record to every sink. slog handlers write a record in
// one Write call, under their own lock, so sinks receive whole records. A
// failing sink does not stop the others.
type fanout []io.Writer

func (f fanout) Write(p []byte) (int, error) {
	var errs []error
	for _, w := range f {
		if _, err := w.Write(p); err != nil {
			errs = append(errs, err)
		}
	}
	return len(p), errors.Join(errs...)
}
