package dynamo

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Every list is a Query on a key or an index; a Scan reads the whole table
// and costs in proportion to it. This fails on any call of a method named
// Scan or any use of a ScanInput in non-test code of the module.
func TestNoScanOnAnyPath(t *testing.T) {
	root := "../../.."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".cache", ".git", "cdk.out", "testdata", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if n.Sel.Name == "Scan" || n.Sel.Name == "ScanInput" || n.Sel.Name == "NewScanPaginator" {
					if x, ok := n.X.(*ast.Ident); ok && (x.Name == "dynamodb" || strings.Contains(strings.ToLower(x.Name), "client") || x.Name == "db") {
						t.Errorf("%s: %s.%s: lists must be Queries", fset.Position(n.Pos()), x.Name, n.Sel.Name)
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
