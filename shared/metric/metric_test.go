package metric_test

import (
	"go/ast"
	"go/constant"
	"go/types"
	"testing"

	"github.com/wacrm/wacrm/shared/internal/gosource"
	"github.com/wacrm/wacrm/shared/metric"
)

const (
	metricPkg = "github.com/wacrm/wacrm/shared/metric"
	slogPkg   = "log/slog"
)

// countingLevels are the slog calls whose lines survive Lambda's
// application log level in production (WARN).
var countingLevels = map[string]bool{"Warn": true, "WarnContext": true, "Error": true, "ErrorContext": true}

// calledFunc is the function or method a call names, if it names one.
func calledFunc(info *types.Info, call *ast.CallExpr) *types.Func {
	var id *ast.Ident
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = fun.Sel
	case *ast.Ident:
		id = fun
	default:
		return nil
	}
	f, _ := info.Uses[id].(*types.Func)
	return f
}

// Every counted event is counted where it is logged, at WARN or ERROR (an
// INFO line never reaches CloudWatch in production, so its metric would
// stay at zero), always through a Name (so the alarms and the code agree
// on the spelling), and every Name is counted somewhere.
func TestEveryCountedEventIsAWarningWithAName(t *testing.T) {
	pkgs, err := gosource.Load("../..", "./...")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	var declared []*types.Const
	for _, p := range pkgs {
		if p.PkgPath == metricPkg {
			scope := p.Types.Scope()
			for _, name := range scope.Names() {
				if c, ok := scope.Lookup(name).(*types.Const); ok {
					declared = append(declared, c)
				}
			}
			continue
		}
		for _, f := range p.Syntax {
			var stack []ast.Node
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return true
				}
				stack = append(stack, n)
				if id, ok := n.(*ast.Ident); ok {
					if c, ok := p.TypesInfo.Uses[id].(*types.Const); ok && c.Pkg() != nil && c.Pkg().Path() == metricPkg {
						used[c.Name()] = true
					}
				}
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				fn := calledFunc(p.TypesInfo, call)
				if fn == nil || fn.Pkg() == nil {
					return true
				}
				pos := p.Fset.Position(call.Pos())
				switch {
				case fn.Pkg().Path() == metricPkg && fn.Name() == "Attr":
					var parent *ast.CallExpr
					if len(stack) >= 2 {
						parent, _ = stack[len(stack)-2].(*ast.CallExpr)
					}
					var logFn *types.Func
					if parent != nil {
						logFn = calledFunc(p.TypesInfo, parent)
					}
					if logFn == nil || logFn.Pkg() == nil || logFn.Pkg().Path() != slogPkg || !countingLevels[logFn.Name()] {
						t.Errorf("%s: a counted event must be an argument of a slog Warn or Error call", pos)
					}
				case fn.Pkg().Path() == slogPkg:
					for _, arg := range call.Args {
						if tv, ok := p.TypesInfo.Types[arg]; ok && tv.Value != nil && tv.Value.Kind() == constant.String &&
							constant.StringVal(tv.Value) == metric.Key {
							t.Errorf("%s: the log key %q spelled out; count with a metric.Name's Attr()", pos, metric.Key)
						}
					}
				}
				return true
			})
		}
	}
	if len(declared) == 0 {
		t.Fatal("package metric declares no names")
	}
	for _, c := range declared {
		if c.Name() != "Key" && !used[c.Name()] {
			t.Errorf("metric.%s is never logged: its CloudWatch metric would stay empty", c.Name())
		}
	}
}
