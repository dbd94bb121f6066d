package execplan

import (
	"fmt"
	"strings"
)

// operand kinds of a safe bin.
const (
	operandsFiles   = iota // every operand is a file: any operand is a miss
	operandsProgram        // the first operand is a pattern/filter (unless given by option), the rest are files
	operandsStrings        // operands are never files (tr)
)

// safeBinSpec is the command line of a stdin-only filter. Anything not
// described here (an unknown option, an abbreviation of a long option, a
// file operand) makes the use a miss.
type safeBinSpec struct {
	opts        optSpec
	fileOpts    map[string]bool // options whose value is a file (or that read/write/run files)
	programOpts map[string]bool // options that supply the pattern/filter, so every operand is a file
	missValues  map[string]string
	operands    int
	twoValues   map[string]bool // long options taking two values (jq --arg name value)
}

var safeBinSpecs = map[string]safeBinSpec{
	"grep": {
		opts: optSpec{argShort: "eAmBCdDf", noArgShort: "EFGPiyvwxcoqsbHhnTZzaIULl", numeric: true,
			longArg: set("regexp", "max-count", "after-context", "before-context", "context", "label",
				"binary-files", "directories", "devices", "include", "exclude", "exclude-dir",
				"group-separator", "file", "exclude-from"),
			longNoArg: set("extended-regexp", "fixed-strings", "basic-regexp", "perl-regexp", "ignore-case",
				"no-ignore-case", "invert-match", "word-regexp", "line-regexp", "count", "only-matching",
				"quiet", "silent", "no-messages", "byte-offset", "with-filename", "no-filename",
				"line-number", "initial-tab", "null", "null-data", "text", "files-with-matches",
				"files-without-match", "line-buffered", "no-group-separator", "color", "colour")},
		fileOpts:    set("f", "file", "exclude-from"),
		programOpts: set("e", "regexp", "f", "file"),
		missValues:  map[string]string{"d": "recurse", "directories": "recurse"},
		operands:    operandsProgram,
	},
	"jq": {
		opts: optSpec{argShort: "fL", noArgShort: "ncrjaSsCMehRV",
			longArg: set("indent", "from-file", "library-path", "arg", "argjson", "slurpfile", "rawfile"),
			longNoArg: set("null-input", "compact-output", "raw-output", "raw-output0", "join-output",
				"ascii-output", "sort-keys", "color-output", "monochrome-output", "tab", "slurp",
				"raw-input", "exit-status", "seq", "stream", "stream-errors", "unbuffered", "help", "version")},
		fileOpts:    set("f", "from-file", "L", "library-path", "slurpfile", "rawfile"),
		programOpts: set("f", "from-file"),
		operands:    operandsProgram,
		twoValues:   set("arg", "argjson", "slurpfile", "rawfile"),
	},
	"cut": {
		opts: optSpec{argShort: "bcfd", noArgShort: "snz",
			longArg:   set("bytes", "characters", "fields", "delimiter", "output-delimiter"),
			longNoArg: set("complement", "only-delimited", "zero-terminated")},
	},
	"sort": {
		opts: optSpec{argShort: "ktSoT", noArgShort: "bdfgihMnRrVcCmsuz",
			longArg: set("key", "field-separator", "buffer-size", "parallel", "sort", "batch-size",
				"output", "temporary-directory", "random-source", "files0-from", "compress-program"),
			longNoArg: set("ignore-leading-blanks", "dictionary-order", "ignore-case", "general-numeric-sort",
				"ignore-nonprinting", "human-numeric-sort", "month-sort", "numeric-sort", "random-sort",
				"reverse", "version-sort", "check", "merge", "stable", "unique", "zero-terminated", "debug")},
		fileOpts: set("o", "output", "T", "temporary-directory", "random-source", "files0-from", "compress-program"),
	},
	"uniq": {
		opts: optSpec{argShort: "fsw", noArgShort: "cdDuiz",
			longArg:   set("skip-fields", "skip-chars", "check-chars"),
			longNoArg: set("count", "repeated", "unique", "ignore-case", "zero-terminated", "all-repeated", "group")},
	},
	"head": {
		opts: optSpec{argShort: "nc", noArgShort: "qvz", numeric: true,
			longArg:   set("lines", "bytes"),
			longNoArg: set("quiet", "silent", "verbose", "zero-terminated")},
	},
	"tail": {
		opts: optSpec{argShort: "ncs", noArgShort: "fFqvz", numeric: true,
			longArg:   set("lines", "bytes", "sleep-interval", "max-unchanged-stats", "pid"),
			longNoArg: set("follow", "retry", "quiet", "silent", "verbose", "zero-terminated")},
	},
	"tr": {
		opts:     optSpec{noArgShort: "cCdst", longNoArg: set("complement", "delete", "squeeze-repeats", "truncate-set1")},
		operands: operandsStrings,
	},
	"wc": {
		opts: optSpec{noArgShort: "cmlLw",
			longArg:   set("total", "files0-from"),
			longNoArg: set("bytes", "chars", "lines", "max-line-length", "words")},
		fileOpts: set("files0-from"),
	},
}

// safeBinMisuse returns why args are not a stdin-only use of the safe bin,
// or "" if they are.
func safeBinMisuse(bin string, args []string) string {
	sp := safeBinSpecs[bin]
	// jq's two-valued options do not fit getopt; take them out first.
	if len(sp.twoValues) > 0 {
		var rest []string
		for i := 0; i < len(args); i++ {
			name, isLong := strings.CutPrefix(args[i], "--")
			if args[i] == "--" {
				rest = append(rest, args[i:]...)
				break
			}
			if isLong && sp.twoValues[name] {
				if sp.fileOpts[name] {
					return fmt.Sprintf("%s --%s reads a file", bin, name)
				}
				i += 2
				continue
			}
			rest = append(rest, args[i])
		}
		args = rest
	}
	opts, i, err := parseOpts(args, sp.opts)
	if err != nil {
		return fmt.Sprintf("%s: %v; only stdin use is a safe bin", bin, err)
	}
	haveProgram := false
	for _, o := range opts {
		if sp.fileOpts[o.name] {
			return fmt.Sprintf("%s -%s%s names a file; only stdin use is a safe bin", bin, dashIfLong(o), o.name)
		}
		if v, ok := sp.missValues[o.name]; ok && strings.HasPrefix(v, o.value) && o.value != "" {
			return fmt.Sprintf("%s -%s%s=%s reads files; only stdin use is a safe bin", bin, dashIfLong(o), o.name, o.value)
		}
		if sp.programOpts[o.name] {
			haveProgram = true
		}
	}
	if bin == "grep" {
		for _, a := range args[:i] {
			if a == "-r" || a == "-R" || strings.HasPrefix(a, "--recursive") || strings.HasPrefix(a, "--dereference-recursive") ||
				strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsAny(a, "rR") {
				return "grep -r reads files; only stdin use is a safe bin"
			}
		}
	}
	operands := args[i:]
	switch sp.operands {
	case operandsStrings:
		return ""
	case operandsProgram:
		if !haveProgram {
			if len(operands) == 0 {
				return ""
			}
			if bin == "jq" {
				if why := jqFilterUnsafe(operands[0]); why != "" {
					return why
				}
			}
			operands = operands[1:]
		}
	}
	for _, op := range operands {
		if op != "-" {
			return fmt.Sprintf("%s with operand %q reads a file; only stdin use is a safe bin", bin, op)
		}
	}
	return ""
}

func dashIfLong(o opt) string {
	if o.long {
		return "-"
	}
	return ""
}

// jqFilterUnsafe refuses jq filters that read modules, data files or the
// environment (which may hold secrets).
func jqFilterUnsafe(f string) string {
	for _, w := range []string{"import", "include", "env", "input_filename", "$__loc__", "modulemeta", "get_search_list"} {
		if strings.Contains(strings.ToLower(f), w) {
			return fmt.Sprintf("jq filter uses %s; only a plain stdin filter is a safe bin", w)
		}
	}
	return ""
}
