// Package canned holds canned ("predefined") responses and the merge fields
// they carry, like $[Leads.First Name], filled from the conversation's record.
package canned

import (
	"regexp"
	"strings"

	"github.com/wacrm/wacrm/shared/records"
)

// mergeField matches $[Module.Field Name].
var mergeField = regexp.MustCompile(`\$\[([A-Za-z]+)\.([^\]\r\n]{1,64})\]`)

// Field is one merge field found in a text.
type Field struct {
	Token  string         `json:"token"` // as written: $[Leads.First Name]
	Module records.Module `json:"module"`
	Name   string         `json:"name"`
}

// Fields lists the merge fields in text, in order, without repeats.
func Fields(text string) []Field {
	var out []Field
	seen := map[string]bool{}
	for _, m := range mergeField.FindAllStringSubmatch(text, -1) {
		if seen[m[0]] {
			continue
		}
		seen[m[0]] = true
		mod, err := records.ParseModule(m[1])
		if err != nil {
			mod = records.Module(m[1])
		}
		out = append(out, Field{Token: m[0], Module: mod, Name: strings.TrimSpace(m[2])})
	}
	return out
}

// Render fills text's merge fields from rec. A field of another module than
// rec's, an unknown field, or an empty value renders as "" and is listed in
// missing (by token), so the user can see what the customer would get.
func Render(text string, rec *records.Record) (rendered string, missing []string) {
	rendered = mergeField.ReplaceAllStringFunc(text, func(token string) string {
		m := mergeField.FindStringSubmatch(token)
		value := valueFor(m[1], m[2], rec)
		if value == "" {
			missing = appendOnce(missing, token)
		}
		return value
	})
	return rendered, missing
}

// valueFor is the value of the merge field module.name for rec: "" unless
// the field belongs to rec's module.
func valueFor(module, name string, rec *records.Record) string {
	mod, err := records.ParseModule(module)
	if err != nil || rec == nil || mod != rec.Module {
		return ""
	}
	return FieldValue(rec, strings.TrimSpace(name))
}

// FieldValue returns a record's field by its CRM display name, matched
// without regard to case; "" when unknown or empty.
func FieldValue(rec *records.Record, name string) string {
	switch strings.ToLower(name) {
	case "first name":
		return rec.FirstName
	case "last name":
		return rec.LastName
	case "full name", "name", "lead name", "contact name":
		return rec.FullName()
	case "email":
		return rec.Email
	case "phone", "mobile":
		return rec.Phone
	case "company", "account name":
		return rec.Company
	case "title", "designation":
		return rec.Title
	}
	for k, v := range rec.Fields {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}
