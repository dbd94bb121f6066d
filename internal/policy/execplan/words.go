package execplan

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// wordKind is where a word appears; it decides which expansions matter.
type wordKind int

const (
	wordCmd     wordKind = iota // the command name
	wordArg                     // an argument (or a for-loop item, a case word)
	wordAssign                  // the value of VAR=value
	wordPattern                 // a case pattern: globs are matching, not file names
	wordRedir                   // a redirection target
)

// word checks w and returns its literal value after quote removal. ok is
// false when the word is not a literal (any expansion), in which case a
// finding has been recorded.
func (a *analyzer) word(w *syntax.Word, depth int, kind wordKind) (string, bool) {
	if w == nil {
		return "", true
	}
	ok := true
	syntax.Walk(w, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			a.add(sevDeny, "command substitution $(…) is not allowed")
			a.nested(n.Stmts, depth)
			ok = false
			return false
		case *syntax.ProcSubst:
			a.add(sevDeny, "process substitution <(…) >(…) is not allowed")
			a.nested(n.Stmts, depth)
			ok = false
			return false
		case *syntax.ParamExp:
			a.add(sevDeny, "parameter expansion $"+paramName(n)+" is not allowed")
			ok = false
		case *syntax.ArithmExp:
			a.add(sevDeny, "arithmetic expansion $((…)) is not allowed")
			ok = false
		case *syntax.ExtGlob:
			a.add(sevDeny, "extended glob patterns are not allowed")
			ok = false
		case *syntax.SglQuoted:
			if n.Dollar {
				a.add(sevDeny, "ANSI-C quoting $'…' is not allowed")
				ok = false
			}
		case *syntax.DblQuoted:
			if n.Dollar {
				a.add(sevDeny, "locale quoting $\"…\" is not allowed")
				ok = false
			}
		}
		return true
	})
	if !ok {
		return "", false
	}

	val, glob, tilde := unquote(w)
	if kind == wordPattern {
		return val, true
	}
	if hasBraceExpansion(w) {
		if kind == wordCmd {
			a.add(sevDeny, "brace expansion in the command name is not allowed")
		} else {
			a.add(sevDeny, "brace expansion {a,b} is not allowed")
		}
		return "", false
	}
	if glob && kind != wordAssign {
		if kind == wordCmd {
			a.add(sevDeny, "glob pattern in the command name is not allowed")
			return "", false
		}
		a.add(sevMiss, "glob pattern "+val+" expands to file names and needs approval")
	}
	if tilde {
		a.add(sevMiss, "tilde expansion in "+val+" needs approval")
	}
	return val, true
}

func paramName(p *syntax.ParamExp) string {
	if p.Param != nil {
		return p.Param.Value
	}
	return ""
}

// hasBraceExpansion reports whether bash would brace-expand w.
func hasBraceExpansion(w *syntax.Word) bool {
	// SplitBraces rewrites its argument; work on a shallow copy.
	cp := &syntax.Word{Parts: append([]syntax.WordPart(nil), w.Parts...)}
	if !syntax.SplitBraces(cp) {
		return false
	}
	// "{}" and "{a}" stay literal in bash: only a list or a sequence expands.
	found := false
	syntax.Walk(cp, func(n syntax.Node) bool {
		if b, ok := n.(*syntax.BraceExp); ok && (b.Sequence || len(b.Elems) > 1) {
			found = true
		}
		return !found
	})
	return found
}

// literal returns the value of w if it has no expansions at all.
func literal(w *syntax.Word) (string, bool) {
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", false
			}
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.Lit); !ok {
					return "", false
				}
			}
		default:
			return "", false
		}
	}
	v, glob, _ := unquote(w)
	return v, !glob
}

// unquote performs quote removal on a word made only of Lit, SglQuoted and
// DblQuoted-of-Lit parts. glob reports an unquoted glob metacharacter, tilde
// an unquoted tilde prefix (at the start, or after = or :).
func unquote(w *syntax.Word) (val string, glob, tilde bool) {
	var b strings.Builder
	openBracket := false
	for i, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			s := p.Value
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c == '\\' && j+1 < len(s) {
					j++
					if s[j] != '\n' {
						b.WriteByte(s[j])
					}
					continue
				}
				switch c {
				case '*', '?':
					glob = true
				case '[':
					openBracket = true
				case ']':
					if openBracket {
						glob = true
					}
				case '~':
					prev := byte(0)
					if b.Len() > 0 {
						prev = b.String()[b.Len()-1]
					}
					if (i == 0 && j == 0) || prev == '=' || prev == ':' {
						tilde = true
					}
				}
				b.WriteByte(c)
			}
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					continue
				}
				s := lit.Value
				for j := 0; j < len(s); j++ {
					c := s[j]
					if c == '\\' && j+1 < len(s) {
						switch s[j+1] {
						case '$', '`', '"', '\\':
							j++
							b.WriteByte(s[j])
							continue
						case '\n':
							j++
							continue
						}
					}
					if c == ']' && openBracket {
						glob = true
					}
					b.WriteByte(c)
				}
			}
		}
	}
	return b.String(), glob, tilde
}
