package canned

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/records"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name       string
		module     records.Module
		resName    string
		text       string
		wantCode   apperr.Code // "" = valid
		wantInMsg  string
		wantStored string // the stored name, when valid
	}{
		{"valid lead", records.Leads, "Greeting", "Hi $[Leads.First Name]!", "", "", "Greeting"},
		{"valid contact", records.Contacts, "Dank je", "Dag $[contacts.last name]", "", "", "Dank je"},
		{"name trimmed", records.Leads, "  Follow-up  ", "Hello", "", "", "Follow-up"},
		{"emoji name", records.Leads, "🎉 Welcome ñandú", "Hi 👋", "", "", "🎉 Welcome ñandú"},
		{"100 emoji name", records.Leads, strings.Repeat("😀", 100), "x", "", "", strings.Repeat("😀", 100)},
		{"4096 character text", records.Leads, "Long", strings.Repeat("é", 4096), "", "", "Long"},
		{"no module", "", "A", "b", apperr.Invalid, "module", ""},
		{"unknown module", "Deals", "A", "b", apperr.Invalid, "module", ""},
		{"blank name", records.Leads, "   ", "b", apperr.Invalid, "name is required", ""},
		{"101 character name", records.Leads, strings.Repeat("ß", 101), "b", apperr.Invalid, "101 characters", ""},
		{"multi-line name", records.Leads, "a\nb", "b", apperr.Invalid, "one line", ""},
		{"blank text", records.Leads, "A", " \n ", apperr.Invalid, "text is required", ""},
		{"4097 character text", records.Leads, "A", strings.Repeat("é", 4097), apperr.Invalid, "4097 characters", ""},
		{"invalid utf-8", records.Leads, "A", "\xff", apperr.Invalid, "UTF-8", ""},
		{"contact field in lead", records.Leads, "A", "Hi $[Contacts.First Name] $[Deals.Amount] $[Leads.Email]", apperr.Invalid, "$[Contacts.First Name], $[Deals.Amount]", ""},
		{"lead field in contact", records.Contacts, "A", "Hi $[Lead.First Name]", apperr.Invalid, "$[Lead.First Name]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New("acme", "u1", tt.module, tt.resName, tt.text, now)
			if got := codeOrEmpty(err); got != tt.wantCode {
				t.Fatalf("New: code %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				if !strings.Contains(apperr.MessageOf(err), tt.wantInMsg) {
					t.Errorf("message %q does not mention %q", apperr.MessageOf(err), tt.wantInMsg)
				}
				return
			}
			if r.Name != tt.wantStored || r.ID == "" || r.Org != "acme" || r.CreatedBy != "u1" || !r.CreatedAt.Equal(now) {
				t.Errorf("New = %+v", r)
			}
		})
	}
}

func codeOrEmpty(err error) apperr.Code {
	if err == nil {
		return ""
	}
	return apperr.CodeOf(err)
}

func TestApply(t *testing.T) {
	ptr := func(s string) *string { return &s }
	mod := func(m records.Module) *records.Module { return &m }
	later := now.Add(time.Hour)
	tests := []struct {
		name     string
		patch    Patch
		wantCode apperr.Code
		wantName string
		wantText string
	}{
		{"rename", Patch{Name: ptr(" Bye ")}, "", "Bye", "Hi $[Leads.First Name]"},
		{"new text", Patch{Text: ptr("Hello $[Leads.Company]")}, "", "Greeting", "Hello $[Leads.Company]"},
		{"same module is fine", Patch{Module: mod(records.Leads), Name: ptr("X")}, "", "X", "Hi $[Leads.First Name]"},
		{"other module", Patch{Module: mod(records.Contacts)}, apperr.ModuleImmutable, "", ""},
		{"text of other module", Patch{Text: ptr("$[Contacts.Email]")}, apperr.Invalid, "", ""},
		{"blank name", Patch{Name: ptr("")}, apperr.Invalid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New("acme", "u1", records.Leads, "Greeting", "Hi $[Leads.First Name]", now)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Apply(tt.patch, "u2", later)
			if got := codeOrEmpty(err); got != tt.wantCode {
				t.Fatalf("Apply: code %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if r.Name != tt.wantName || r.Text != tt.wantText || r.UpdatedBy != "u2" || !r.UpdatedAt.Equal(later) || r.Module != records.Leads {
				t.Errorf("after Apply: %+v", r)
			}
		})
	}
}

func TestSearch(t *testing.T) {
	keys := []struct{ in, want string }{
		{"Morning  Greeting!", "morning greeting"},
		{"Follow-up (demo)", "follow up demo"},
		{"#1 Ñandú—Straße", "1 ñandú straße"},
		{"🎉Party 🎉 time", "🎉party 🎉 time"},
		{"!!!", ""},
		{"\tA\nb\x00c", "a b c"},
	}
	for _, k := range keys {
		if got := SearchKey(k.in); got != k.want {
			t.Errorf("SearchKey(%q) = %q, want %q", k.in, got, k.want)
		}
		if strings.ContainsFunc(SearchKey(k.in), func(r rune) bool { return r < '$' && r != ' ' || r == '#' }) {
			t.Errorf("SearchKey(%q) holds a character keys rely on not being there", k.in)
		}
	}
	if got, want := WordStarts("Morning greeting, friend"), []string{"morning greeting friend", "greeting friend", "friend"}; !slices.Equal(got, want) {
		t.Errorf("WordStarts = %q, want %q", got, want)
	}
	matches := []struct {
		name, q string
		want    int
	}{
		{"Morning greeting", "morn", 0},
		{"Morning greeting", "greet", 1},
		{"Morning greeting", "ning", -1},
		{"Morning greeting", "morning g", 0},
		{"Follow-up (demo)", "follow up", 0},
		{"Hi hi hello", "h", 0},
		{"Oh hi hi", "hi", 1},
		{"🎉 Welcome", "🎉", 0},
		{"Ñandú", "ñan", 0},
	}
	for _, m := range matches {
		if got := FirstMatch(WordStarts(m.name), SearchKey(m.q)); got != m.want {
			t.Errorf("FirstMatch(%q, %q) = %d, want %d", m.name, m.q, got, m.want)
		}
	}
}

func TestNewPreview(t *testing.T) {
	lead := &records.Record{Module: records.Leads, FirstName: "Ana", LastName: "", Company: "Acme 🚀"}
	tests := []struct {
		name         string
		text         string
		textModule   records.Module
		recordModule records.Module
		rec          *records.Record
		want         Preview
	}{
		{"lead response on lead", "Hi $[Leads.First Name] $[Leads.Last Name]", records.Leads, records.Leads, lead, Preview{
			Text: "Hi Ana ", Missing: []string{"$[Leads.Last Name]"}, Length: 7,
			Fields: []Filled{
				{Field{"$[Leads.First Name]", records.Leads, "First Name"}, "Ana"},
				{Field{"$[Leads.Last Name]", records.Leads, "Last Name"}, ""},
			},
		}},
		{"contact response on lead", "Hi $[Contacts.First Name]", records.Contacts, records.Leads, lead, Preview{
			Text: "Hi ", Missing: []string{"$[Contacts.First Name]"}, ModuleMismatch: true, Length: 3,
			Fields: []Filled{{Field{"$[Contacts.First Name]", records.Contacts, "First Name"}, ""}},
		}},
		{"contact response without fields on lead", "Thanks!", records.Contacts, records.Leads, lead, Preview{
			Text: "Thanks!", Missing: []string{}, Fields: []Filled{}, ModuleMismatch: true, Length: 7,
		}},
		{"typed text with other module's field", "$[Leads.Company] / $[Contacts.Email]", "", records.Leads, lead, Preview{
			Text: "Acme 🚀 / ", Missing: []string{"$[Contacts.Email]"}, ModuleMismatch: true, Length: 9,
			Fields: []Filled{
				{Field{"$[Leads.Company]", records.Leads, "Company"}, "Acme 🚀"},
				{Field{"$[Contacts.Email]", records.Contacts, "Email"}, ""},
			},
		}},
		{"record gone", "Hi $[Leads.First Name]", "", records.Leads, nil, Preview{
			Text: "Hi ", Missing: []string{"$[Leads.First Name]"}, Length: 3,
			Fields: []Filled{{Field{"$[Leads.First Name]", records.Leads, "First Name"}, ""}},
		}},
		{"expands past the limit", strings.Repeat("x", 4091) + "$[Leads.Company]", records.Leads, records.Leads, lead, Preview{
			Text: strings.Repeat("x", 4091) + "Acme 🚀", Missing: []string{}, Length: 4097, TooLong: true,
			Fields: []Filled{{Field{"$[Leads.Company]", records.Leads, "Company"}, "Acme 🚀"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewPreview(tt.text, tt.textModule, tt.recordModule, tt.rec)
			if got.Text != tt.want.Text || !slices.Equal(got.Missing, tt.want.Missing) || !slices.Equal(got.Fields, tt.want.Fields) ||
				got.ModuleMismatch != tt.want.ModuleMismatch || got.Length != tt.want.Length || got.TooLong != tt.want.TooLong {
				t.Errorf("NewPreview =\n %+v\nwant\n %+v", got, tt.want)
			}
			if got.Missing == nil || got.Fields == nil {
				t.Errorf("Missing and Fields must be empty lists, not nil, so they encode as []")
			}
		})
	}
}
