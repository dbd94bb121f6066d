package cli

import (
	"os"
	"regexp"
	"strings"

	"golang.org/x/term"
)

// goPrefix matches the callee names the code wraps errors with
// ("config.Load: ", "llm.Router.Chat: "): a lowercase package, then one or
// more exported identifiers. File names such as "talon.json: " do not match.
var goPrefix = regexp.MustCompile(`(^|: )[a-z][a-z0-9]*(\.[A-Z][A-Za-z0-9]*)+: `)

// stripGoPrefixes removes the Go call chain from an error message so a
// person sees the cause; --debug and the logs keep the full chain.
func stripGoPrefixes(msg string) string {
	for {
		next := goPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			return msg
		}
		msg = next
	}
}

// humanErr is what Execute returns without --debug: the same error (exit
// code, errors.Is/As) with a message for people.
type humanErr struct{ err error }

func (e *humanErr) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = visible(stripGoPrefixes(l))
	}
	return strings.Join(lines, "\n")
}
func (e *humanErr) Unwrap() error { return e.err }

// forPeople wraps err for the CLI's one-line message unless debug is set.
func forPeople(err error, debug bool) error {
	if err == nil || debug {
		return err
	}
	return &humanErr{err: err}
}

func termIsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// humanError is err's message without the Go call chain.
func humanError(err error) string {
	if err == nil {
		return ""
	}
	return stripGoPrefixes(err.Error())
}
