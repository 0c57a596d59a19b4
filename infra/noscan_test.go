package main

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

// wholeTableReads are the actions that read a table without a key: Scan,
// and PartiQL's SELECT, which is a Scan when it names no key.
var wholeTableReads = []string{"dynamodb:Scan", "dynamodb:PartiQLSelect"}

// actionMatches applies IAM's action matching: case-insensitive, with the
// wildcards * and ?.
func actionMatches(pattern, action string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return err == nil && ok
}

// allowing walks every policy statement in a template (identity and
// resource policies, inline or managed) and returns where one allows
// action, through Action or through a NotAction that leaves it out.
func allowing(node any, where, action string) []string {
	var found []string
	switch n := node.(type) {
	case map[string]any:
		if n["Effect"] == "Allow" {
			if acts, ok := n["Action"]; ok {
				for _, a := range strs(acts) {
					if actionMatches(a, action) {
						found = append(found, fmt.Sprintf("%s: Action %s", where, a))
					}
				}
			}
			if nacts, ok := n["NotAction"]; ok {
				excluded := false
				for _, a := range strs(nacts) {
					excluded = excluded || actionMatches(a, action)
				}
				if !excluded {
					found = append(found, fmt.Sprintf("%s: NotAction %v", where, strs(nacts)))
				}
			}
		}
		for k, v := range n {
			found = append(found, allowing(v, where+"."+k, action)...)
		}
	case []any:
		for i, v := range n {
			found = append(found, allowing(v, fmt.Sprintf("%s[%d]", where, i), action)...)
		}
	}
	return found
}

// Every list is a Query: no policy in either stack lets anything read a
// whole table, spelled out or through a wildcard.
func TestNoPolicyAllowsScan(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		for _, action := range wholeTableReads {
			for _, f := range allowing(s.json["Resources"], s.name, action) {
				t.Errorf("%s allows %s; lists must be Queries", f, action)
			}
		}
	}
}

// The check itself finds a Scan granted in any of the ways IAM allows one.
func TestAllowingFindsEveryWayToGrantScan(t *testing.T) {
	stmt := func(k string, v any) map[string]any {
		return map[string]any{"Resources": map[string]any{"P": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{
			"PolicyDocument": map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", k: v, "Resource": "*"}}}}}}}
	}
	for _, tt := range []struct {
		name  string
		tmpl  map[string]any
		found bool
	}{
		{"spelled out", stmt("Action", "dynamodb:Scan"), true},
		{"in a list", stmt("Action", []any{"dynamodb:GetItem", "dynamodb:Scan"}), true},
		{"service wildcard", stmt("Action", "dynamodb:*"), true},
		{"prefix wildcard", stmt("Action", "dynamodb:S*"), true},
		{"any action", stmt("Action", "*"), true},
		{"other case", stmt("Action", "DynamoDB:scan"), true},
		{"single-character wildcard", stmt("Action", "dynamodb:Sca?"), true},
		{"NotAction leaving it in", stmt("NotAction", "dynamodb:DeleteTable"), true},
		{"NotAction leaving it out", stmt("NotAction", "dynamodb:*"), false},
		{"query only", stmt("Action", []any{"dynamodb:Query", "dynamodb:GetItem"}), false},
		{"other service", stmt("Action", "sqs:*"), false},
	} {
		got := allowing(tt.tmpl["Resources"], "t", "dynamodb:Scan")
		if (len(got) > 0) != tt.found {
			t.Errorf("%s: found %v, want found=%v", tt.name, got, tt.found)
		}
	}
	deny := map[string]any{"Effect": "Deny", "Action": "dynamodb:*"}
	if got := allowing(deny, "t", "dynamodb:Scan"); len(got) > 0 {
		t.Errorf("a Deny reported as a grant: %v", got)
	}
}
