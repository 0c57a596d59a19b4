package ids

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"acme", true},
		{"org-acme_2", true},
		{"3f1c6d1e-1b7a-4f3a-9a55-5b2c1d0e9f88", true}, // Cognito sub
		{"auth0|5f7c8ec7c33c6c004bbafe82", true},
		{"ana+crm@example.com", true},
		{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTE1REEzREFBNjg5NjZDRTAwQgA=", true},
		{"US.13491208655302741918", true},
		{"106540352242922", true},
		{New("conv"), true},
		{Derive("conv", "a", "b"), true},
		{strings.Repeat("a", MaxLen), true},
		{"", false},
		{strings.Repeat("a", MaxLen+1), false},
		{"acme#x", false}, // the table's key separator
		{"acme/x", false}, // the blob store's
		{"acme x", false},
		{"wamid.A\x00B", false},
		{"wamid.A\nB", false},
		{"wamid.A\x7fB", false},
		{"café", false},
		{"acme\xff", false},
		{"a%23b", false},
	}
	for _, tt := range tests {
		err := Check("org", tt.id)
		if (err == nil) != tt.want || Valid(tt.id) != tt.want {
			t.Errorf("Check(%q) = %v, Valid = %v; want valid %v", tt.id, err, Valid(tt.id), tt.want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", tt.id, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\n\x7f") {
			t.Errorf("Check(%q) error repeats a control character: %q", tt.id, err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("acme")
	f.Add("acme#x")
	f.Add("wamid.A\x00B")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) != (Check("id", s) == nil) {
			t.Fatalf("Valid and Check disagree on %q", s)
		}
		if Valid(s) && strings.ContainsAny(s, "#/\x00 \n") {
			t.Fatalf("%q accepted with a separator", s)
		}
	})
}
