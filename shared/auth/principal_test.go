package auth

import (
	"reflect"
	"testing"
)

func TestPrincipalFromClaims(t *testing.T) {
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "u-1", "custom:org": "acme"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		claims map[string]any
		groups []string
		roles  []string
	}{
		{name: "none", claims: base(nil)},
		{name: "JSON list", claims: base(map[string]any{"cognito:groups": []any{"admin", "sales", "", 7}}), groups: []string{"admin", "sales"}},
		{name: "string list", claims: base(map[string]any{"cognito:groups": []string{"sales"}}), groups: []string{"sales"}},
		// API Gateway's JWT authorizer hands lists to the function as "[a b]".
		{name: "API Gateway rendering", claims: base(map[string]any{"cognito:groups": "[admin sales]"}), groups: []string{"admin", "sales"}},
		{name: "JSON text", claims: base(map[string]any{"cognito:groups": `["admin","sales team"]`}), groups: []string{"admin", "sales team"}},
		{name: "comma separated", claims: base(map[string]any{"custom:roles": "agent,admin"}), roles: []string{"agent", "admin"}},
		{name: "single", claims: base(map[string]any{"cognito:groups": "sales"}), groups: []string{"sales"}},
		{name: "empty string", claims: base(map[string]any{"cognito:groups": ""})},
		{name: "wrong type", claims: base(map[string]any{"cognito:groups": 3.0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PrincipalFromClaims(Claims{}, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != "u-1" || p.Org != "acme" {
				t.Errorf("principal %+v", p)
			}
			if len(p.Groups) != 0 || len(tt.groups) != 0 {
				if !reflect.DeepEqual(p.Groups, tt.groups) {
					t.Errorf("groups %q, want %q", p.Groups, tt.groups)
				}
			}
			if len(p.Roles) != 0 || len(tt.roles) != 0 {
				if !reflect.DeepEqual(p.Roles, tt.roles) {
					t.Errorf("roles %q, want %q", p.Roles, tt.roles)
				}
			}
		})
	}
}

func TestPrincipalFromClaimsNamesTheMissingClaim(t *testing.T) {
	if _, err := PrincipalFromClaims(Claims{Org: "tenant"}, map[string]any{"sub": "u-1", "custom:org": "acme"}); err == nil || err.Error() != "token has no tenant claim" {
		t.Errorf("err %v, want the configured org claim named", err)
	}
	if _, err := PrincipalFromClaims(Claims{}, map[string]any{"custom:org": "acme"}); err == nil {
		t.Error("a token without sub accepted")
	}
}

func TestIsAdmin(t *testing.T) {
	for _, tt := range []struct {
		p    Principal
		want bool
	}{
		{Principal{}, false},
		{Principal{Groups: []string{"sales"}, Roles: []string{"agent"}}, false},
		{Principal{Groups: []string{"Admin"}}, false}, // group names are exact
		{Principal{Groups: []string{"sales", AdminGroup}}, true},
		{Principal{Roles: []string{AdminGroup}}, true},
	} {
		if got := tt.p.IsAdmin(); got != tt.want {
			t.Errorf("%+v: IsAdmin %v, want %v", tt.p, got, tt.want)
		}
	}
}
