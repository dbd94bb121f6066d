package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/titanous/json5"
)

// LookupEnv looks up an environment variable; pass os.LookupEnv. The
// package never reads the environment on its own. A nil LookupEnv has no
// variables.
type LookupEnv func(name string) (string, bool)

// Parse parses a JSON5 configuration file, substitutes ${VAR} references in
// string values, validates it strictly and returns it with defaults applied.
// Any problems are returned together in a *ValidationError.
func Parse(data []byte, env LookupEnv) (*Config, error) {
	tree, dups, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	return validateWith(tree, env, dups)
}

// ParseTree parses JSON5 into a generic tree (map[string]any, []any,
// string, float64, bool, nil) without substitution or validation. It
// rejects syntax errors, trailing data, a top level that is not an object,
// and duplicate keys, as a *ValidationError.
func ParseTree(data []byte) (map[string]any, error) {
	tree, dups, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		return nil, &ValidationError{Problems: sortedProblems(dups)}
	}
	return tree, nil
}

// parseTree is ParseTree with duplicate keys returned as problems rather
// than an error, so Parse can report them together with everything else.
func parseTree(data []byte) (map[string]any, []Problem, error) {
	data = trimBOM(data)
	if off := tooDeep(data); off >= 0 {
		line, col := position(data, off)
		return nil, nil, &ValidationError{Problems: []Problem{{
			Message: fmt.Sprintf("objects and arrays nested deeper than %d levels at line %d, column %d", maxDepth, line, col),
		}}}
	}
	v, err := unmarshalJSON5(data)
	if err != nil {
		return nil, nil, &ValidationError{Problems: []Problem{syntaxProblem(data, err)}}
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, nil, &ValidationError{Problems: []Problem{{
			Message: fmt.Sprintf("the top level must be an object, got %s", describe(v, false)),
			Hint:    "wrap the settings in { ... }",
		}}}
	}
	return tree, duplicateKeys(data), nil
}

// unmarshalJSON5 runs the JSON5 decoder. The decoder re-panics runtime
// errors; a configuration file must never crash the gateway, so a panic is
// turned into an error here.
func unmarshalJSON5(data []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed JSON5 (parser failure: %v)", r)
		}
	}()
	err = json5.Unmarshal(data, &v)
	return v, err
}

func trimBOM(data []byte) []byte {
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return data[3:]
	}
	return data
}

// syntaxProblem turns a decoder error into a Problem with line:column.
func syntaxProblem(data []byte, err error) Problem {
	var se *json5.SyntaxError
	var te *json5.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		msg := se.Error()
		hint := ""
		switch {
		case msg == "unexpected end of JSON input":
			msg = "unexpected end of file"
			if len(bytes.TrimSpace(data)) == 0 {
				hint = "an empty configuration is {}"
			} else {
				hint = "a closing } or ] or quote is missing"
			}
		case strings.HasSuffix(msg, "after top-level value"):
			hint = "remove the text after the closing } of the top-level object"
		case strings.HasSuffix(msg, "looking for beginning of object key"):
			hint = "keys are identifiers or quoted strings"
		case strings.HasSuffix(msg, "after object key:value pair"), strings.HasSuffix(msg, "after array element"):
			hint = "a comma may be missing"
		}
		line, col := position(data, int(se.Offset)-1)
		return Problem{Message: fmt.Sprintf("syntax error at line %d, column %d: %s", line, col, msg), Hint: hint}
	case errors.As(err, &te):
		line, col := position(data, int(te.Offset)-1)
		return Problem{Message: fmt.Sprintf("syntax error near line %d, column %d: invalid %s", line, col, te.Value)}
	}
	return Problem{Message: "syntax error: " + err.Error()}
}

// position converts a byte offset into a 1-based line and column (in
// characters).
func position(data []byte, off int) (line, col int) {
	off = max(0, min(off, len(data)))
	line, col = 1, 1
	for i := 0; i < off; {
		r, n := utf8.DecodeRune(data[i:])
		i += n
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// maxDepth bounds the nesting of objects and arrays. The JSON5 decoder and
// the validator recurse once per level, and a Go stack overflow cannot be
// recovered, so absurd nesting is refused before decoding. Real
// configurations nest fewer than ten levels.
const maxDepth = 256

// tooDeep returns the offset of the first bracket nested deeper than
// maxDepth, or -1. It skips strings and comments the way the decoder does
// (see dupScanner.skip); on malformed input its answer only decides which
// error is reported.
func tooDeep(data []byte) int {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
			if depth > maxDepth {
				return i
			}
		case '}', ']':
			depth--
		case '"', '\'':
			for i++; i < len(data) && data[i] != c; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '/':
			if i+1 >= len(data) {
				break
			}
			switch data[i+1] {
			case '/':
				for i += 2; i < len(data) && data[i] != '\n' && data[i] != '\r'; i++ {
				}
			case '*':
				star := false
				for i += 2; i < len(data); i++ {
					if star && data[i] == '/' {
						break
					}
					if data[i] == '*' {
						star = true
					}
				}
			}
		}
	}
	return -1
}
