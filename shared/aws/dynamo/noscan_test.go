package dynamo

import (
	"fmt"
	"go/ast"
	"go/types"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/internal/gosource"
)

// sdkPackage is the DynamoDB client package; what reads the whole table
// lives there under the names scanning matches.
const sdkPackage = "github.com/aws/aws-sdk-go-v2/service/dynamodb"

// scanning says whether an object of the SDK package reads a whole table:
// Scan and everything built around it (inputs, paginators, client
// interfaces), and PartiQL statements, which are a Scan when they name no key.
func scanning(obj types.Object) bool {
	if obj.Pkg() == nil || obj.Pkg().Path() != sdkPackage {
		return false
	}
	if _, isField := obj.(*types.Var); isField {
		return false // a field of an input is reported by the input's type name
	}
	n := obj.Name()
	return strings.Contains(n, "Scan") || strings.Contains(n, "ExecuteStatement") || strings.Contains(n, "ExecuteTransaction")
}

type scanUse struct {
	pos  string // file:line
	name string
}

// scanUses resolves every identifier of the packages to the object it
// names and reports those that scan: the type checker sees through import
// aliases, fields, embedding and method values, where a spelling does not.
func scanUses(t *testing.T, dir string, patterns ...string) []scanUse {
	t.Helper()
	pkgs, err := gosource.Load(dir, patterns...)
	if err != nil {
		t.Fatal(err)
	}
	var uses []scanUse
	for _, p := range pkgs {
		for _, f := range p.Syntax {
			ast.Inspect(f, func(n ast.Node) bool {
				id, ok := n.(*ast.Ident)
				if !ok {
					return true
				}
				if obj := p.TypesInfo.Uses[id]; obj != nil && scanning(obj) {
					pos := p.Fset.Position(id.Pos())
					uses = append(uses, scanUse{pos: fmt.Sprintf("%s:%d", pos.Filename, pos.Line), name: obj.Name()})
				}
				return true
			})
		}
	}
	return uses
}

// Every list is a Query on a key or an index; a Scan reads the whole table
// and costs in proportion to it. No non-test code of the module may scan.
func TestNoScanOnAnyPath(t *testing.T) {
	for _, u := range scanUses(t, "../../..", "./...") {
		t.Errorf("%s: %s reads the whole table; lists must be Queries", u.pos, u.name)
	}
}

// The guard catches what the fixtures under testdata/noscan hide (each
// line marked "// want" names what it must report there) and nothing
// else: a Query, and an unrelated method named Scan, pass.
func TestNoScanGuardCatchesFixtures(t *testing.T) {
	want := map[string][]string{}
	wantRE := regexp.MustCompile(`// want (.+)$`)
	files, err := filepath.Glob("testdata/noscan/*/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(file)
		for i, line := range strings.Split(string(src), "\n") {
			if m := wantRE.FindStringSubmatch(line); m != nil {
				key := fmt.Sprintf("%s:%d", abs, i+1)
				for _, name := range strings.Split(m[1], ",") {
					want[key] = append(want[key], strings.TrimSpace(name))
				}
			}
		}
	}
	got := map[string][]string{}
	for _, u := range scanUses(t, ".", "./testdata/noscan/...") {
		got[u.pos] = append(got[u.pos], u.name)
	}
	for pos, names := range want {
		slices.Sort(names)
		g := slices.Sorted(slices.Values(got[pos]))
		if !slices.Equal(g, names) {
			t.Errorf("%s: reported %v, want %v", pos, g, names)
		}
	}
	for pos, names := range got {
		if _, ok := want[pos]; !ok {
			t.Errorf("%s: reported %v where nothing scans", pos, names)
		}
	}
}
