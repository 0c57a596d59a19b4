// Package secretstest is the contract every secrets.Store passes: run it
// from each implementation's tests with a fresh, empty store.
package secretstest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/secrets"
)

// Run checks s: a name that holds nothing is secrets.ErrNotFound, Put then
// Get returns the value, Put again overwrites it, names do not share
// values, and an empty name is refused.
func Run(t *testing.T, s secrets.Store) {
	ctx := context.Background()

	t.Run("not found", func(t *testing.T) {
		_, err := s.Get(ctx, "tokens/int_missing")
		if !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("Get of a name never put: %v, want secrets.ErrNotFound", err)
		}
	})

	t.Run("put get overwrite", func(t *testing.T) {
		const name = "tokens/int_contract"
		long := strings.Repeat("EAAGm0PX4ZCpsBA", 200) // a 3 KB system-user token
		for _, v := range []string{"EAAG-first", "EAAG-second ✓", long} {
			if err := s.Put(ctx, name, v); err != nil {
				t.Fatalf("Put(%q): %v", name, err)
			}
			got, err := s.Get(ctx, name)
			if err != nil || got != v {
				t.Fatalf("Get(%q) = %.40q, %v; want %.40q", name, got, err, v)
			}
		}
	})

	t.Run("names are independent", func(t *testing.T) {
		values := map[string]string{
			"tokens/int_a":     "token-a",
			"tokens/int_b":     "token-b",
			"tokens/int_a_old": "token-a-old",
		}
		for name, v := range values {
			if err := s.Put(ctx, name, v); err != nil {
				t.Fatalf("Put(%q): %v", name, err)
			}
		}
		for name, want := range values {
			got, err := s.Get(ctx, name)
			if err != nil || got != want {
				t.Errorf("Get(%q) = %q, %v; want %q", name, got, err, want)
			}
		}
	})

	t.Run("empty name refused", func(t *testing.T) {
		if err := s.Put(ctx, "", "v"); err == nil {
			t.Errorf("Put with an empty name succeeded")
		}
	})
}
