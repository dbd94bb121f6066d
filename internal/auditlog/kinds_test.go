package auditlog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAuditKindsAreConstants walks the repository's non-test Go files and
// fails where a record kind is passed to an audit function as a string
// literal instead of one of the Kind constants: the kinds drifted before
// (a literal differed from its constant, and the constants were unused),
// and a reader of the log needs one list of what can appear in it.
func TestAuditKindsAreConstants(t *testing.T) {
	kindLike := regexp.MustCompile(`^"[a-z_]+\.[a-z_.]+"$`)
	auditFuncs := map[string]bool{"audit": true, "Audit": true, "auditCLI": true, "auditUpdate": true, "Append": true}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var bad []string
	checked := 0
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "testdata") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				// Recorder intents: Intent{Kind: …, OutcomeKind: …}.
				if kv, ok := n.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && (k.Name == "Kind" || k.Name == "OutcomeKind") {
						if lit, ok := kv.Value.(*ast.BasicLit); ok && kindLike.MatchString(lit.Value) {
							bad = append(bad, fset.Position(lit.Pos()).String()+": "+lit.Value)
						}
					}
					return true
				}
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var name string
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if !auditFuncs[name] {
					return true
				}
				checked++
				// The kind is the first argument that is a string literal
				// or names a Kind constant (ctx, paths and stores come
				// before it; actor and subject after).
				for _, arg := range call.Args {
					switch a := arg.(type) {
					case *ast.BasicLit:
						if a.Kind != token.STRING {
							continue
						}
						if kindLike.MatchString(a.Value) {
							bad = append(bad, fset.Position(a.Pos()).String()+": "+a.Value)
						}
						return true
					case *ast.SelectorExpr:
						if strings.HasPrefix(a.Sel.Name, "Kind") {
							return true
						}
					case *ast.Ident:
						if strings.HasPrefix(a.Name, "Kind") || strings.HasPrefix(a.Name, "kind") || strings.HasPrefix(a.Name, "auditKind") {
							return true
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d audit calls found: the walk does not see the code", checked)
	}
	for _, b := range bad {
		t.Errorf("audit kind as a literal (use a core.Kind constant): %s", b)
	}
}
