package canned

import (
	"slices"
	"testing"

	"github.com/wacrm/wacrm/shared/records"
)

func TestRender(t *testing.T) {
	lead := &records.Record{Module: records.Leads, FirstName: "Ana", LastName: "Díaz", Company: "Acme 🚀", Fields: map[string]string{"Lead Source": "Ads"}}
	contact := &records.Record{Module: records.Contacts, FirstName: "Bo", LastName: ""}
	tests := []struct {
		name        string
		text        string
		rec         *records.Record
		want        string
		wantMissing []string
	}{
		{"plain", "Hello!", lead, "Hello!", nil},
		{"lead fields", "Hi $[Leads.First Name] $[Leads.Last Name] from $[Leads.Company]", lead, "Hi Ana Díaz from Acme 🚀", nil},
		{"case and custom field", "$[leads.first name] via $[Leads.Lead Source]", lead, "Ana via Ads", nil},
		{"other module is missing", "Hi $[Contacts.First Name]", lead, "Hi ", []string{"$[Contacts.First Name]"}},
		{"empty value is missing", "Dear $[Contacts.First Name] $[Contacts.Last Name]", contact, "Dear Bo ", []string{"$[Contacts.Last Name]"}},
		{"unknown field", "$[Leads.Shoe Size]!", lead, "!", []string{"$[Leads.Shoe Size]"}},
		{"repeated token listed once", "$[Leads.Email] $[Leads.Email]", lead, " ", []string{"$[Leads.Email]"}},
		{"not a merge field", "costs $[5] or $[Leads.]", lead, "costs $[5] or $[Leads.]", nil},
		{"no record", "Hi $[Leads.First Name]", nil, "Hi ", []string{"$[Leads.First Name]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := Render(tt.text, tt.rec)
			if got != tt.want || !slices.Equal(missing, tt.wantMissing) {
				t.Errorf("Render(%q) = %q, %q; want %q, %q", tt.text, got, missing, tt.want, tt.wantMissing)
			}
		})
	}
}

func TestFields(t *testing.T) {
	got := Fields("Hi $[Leads.First Name], $[Contacts.Last Name] $[Leads.First Name]")
	want := []Field{
		{Token: "$[Leads.First Name]", Module: records.Leads, Name: "First Name"},
		{Token: "$[Contacts.Last Name]", Module: records.Contacts, Name: "Last Name"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Fields = %+v, want %+v", got, want)
	}
}
