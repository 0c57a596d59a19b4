package canned

import (
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/records"
)

// Filled is a merge field with the value it takes for one record; Value is
// "" when the field is missing (empty, unknown, or of another module).
type Filled struct {
	Field
	Value string `json:"value"`
}

// Fill lists text's merge fields, in order and without repeats, with their
// values for rec (nil: every field is missing).
func Fill(text string, rec *records.Record) []Filled {
	fields := Fields(text)
	out := make([]Filled, len(fields))
	for i, f := range fields {
		out[i] = Filled{Field: f, Value: valueFor(string(f.Module), f.Name, rec)}
	}
	return out
}

// Preview is what a text becomes for the record of a conversation, before
// it is sent.
type Preview struct {
	Text    string   `json:"text"`    // merge fields filled; missing ones render as ""
	Missing []string `json:"missing"` // tokens of the fields that rendered as ""
	Fields  []Filled `json:"fields"`  // every merge field with its value
	// ModuleMismatch: the text was written for another module than the
	// record's (a canned response of the other module, or merge fields of
	// it), so those fields cannot be filled.
	ModuleMismatch bool `json:"moduleMismatch"`
	Length         int  `json:"length"`  // characters of Text
	TooLong        bool `json:"tooLong"` // Length exceeds MaxTextLength
}

// NewPreview renders text for rec, the record of module recordModule that a
// conversation is filed against (rec is nil when that record is gone).
// textModule is the module a canned response was written for, or "" for a
// typed text.
func NewPreview(text string, textModule, recordModule records.Module, rec *records.Record) Preview {
	rendered, missing := Render(text, rec)
	p := Preview{
		Text:           rendered,
		Missing:        missing,
		Fields:         Fill(text, rec),
		ModuleMismatch: textModule != "" && textModule != recordModule,
		Length:         utf8.RuneCountInString(rendered),
	}
	if p.Missing == nil {
		p.Missing = []string{}
	}
	for _, f := range p.Fields {
		if f.Module != recordModule {
			p.ModuleMismatch = true
		}
	}
	p.TooLong = p.Length > MaxTextLength
	return p
}
