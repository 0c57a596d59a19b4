package canned

import (
	"strings"
	"unicode"
)

// Searching by name: a query matches a name when it is a prefix of the name,
// or of the name from one of its later words on, ignoring case and
// punctuation. "greet" and "Greet!" find "Morning greeting"; "follow up"
// finds "Follow-up (demo)". Storage indexes each word start of a name, so a
// search is a prefix query on that index, never a scan.

// SearchKey is s as it is compared: lowercase words joined by single spaces.
// Whitespace, punctuation and control characters separate words; letters,
// digits, marks and symbols (emoji included) make them up. The result never
// contains '#' or characters below '$', which keys rely on.
func SearchKey(s string) string {
	return strings.Join(words(s), " ")
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// WordStarts returns the search key of name from each of its words on:
// "Morning greeting!" gives ["morning greeting", "greeting"].
func WordStarts(name string) []string {
	w := words(name)
	out := make([]string, len(w))
	for i := range w {
		out[i] = strings.Join(w[i:], " ")
	}
	return out
}

// FirstMatch returns the index of the first of starts that begins with the
// search key q, or -1. A name matching at several word starts is reported
// once, at its first.
func FirstMatch(starts []string, q string) int {
	for i, s := range starts {
		if strings.HasPrefix(s, q) {
			return i
		}
	}
	return -1
}
