package auth

import (
	"errors"
	"testing"

	"github.com/wacrm/wacrm/shared/ids"
)

// Org and user ids go into storage keys: one outside the ids alphabet is
// refused, so "acme#x" can never read as org "acme"'s key space.
func TestPrincipalFromClaimsRefusesIDsOutsideTheAlphabet(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"plain", map[string]any{"sub": "3f1c6d1e-1b7a-4f3a-9a55-5b2c1d0e9f88", "custom:org": "acme"}, true},
		{"provider-style sub", map[string]any{"sub": "auth0|5f7c8ec7", "custom:org": "org-acme"}, true},
		{"org with the key separator", map[string]any{"sub": "u-1", "custom:org": "acme#x"}, false},
		{"org with a slash", map[string]any{"sub": "u-1", "custom:org": "acme/x"}, false},
		{"org with a space", map[string]any{"sub": "u-1", "custom:org": "acme x"}, false},
		{"sub with the key separator", map[string]any{"sub": "u#1", "custom:org": "acme"}, false},
		{"sub with a control character", map[string]any{"sub": "u\x001", "custom:org": "acme"}, false},
		{"no org", map[string]any{"sub": "u-1"}, false},
		{"no sub", map[string]any{"custom:org": "acme"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PrincipalFromClaims(Claims{}, tt.claims)
			if (err == nil) != tt.ok {
				t.Fatalf("PrincipalFromClaims = %+v, %v; want ok %v", p, err, tt.ok)
			}
			if err != nil && tt.claims["sub"] != nil && tt.claims["custom:org"] != nil && !errors.Is(err, ids.ErrInvalid) {
				t.Errorf("err = %v, want ids.ErrInvalid", err)
			}
		})
	}
}
