// Package gosource loads the module's Go packages with their syntax and
// types, for tests that check the code by what it means rather than how
// it is spelled (import aliases, fields and embedding resolved).
package gosource

import (
	"errors"
	"fmt"

	"golang.org/x/tools/go/packages"
)

// Load type-checks the packages matching patterns, resolved from dir. It
// fails if any of them does not load or type-check: a check that skipped
// a package would pass without looking.
func Load(dir string, patterns ...string) ([]*packages.Package, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:  dir,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages match %v in %s", patterns, dir)
	}
	var errs []error
	for _, p := range pkgs {
		for _, e := range p.Errors {
			errs = append(errs, fmt.Errorf("%s: %v", p.PkgPath, e))
		}
	}
	return pkgs, errors.Join(errs...)
}
