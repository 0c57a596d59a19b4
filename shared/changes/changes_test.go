package changes

import (
	"testing"

	"github.com/wacrm/wacrm/shared/table"
)

func TestFilter(t *testing.T) {
	msg := Change{Event: Insert, Key: table.Key{PK: "MSGS#acme#c1", SK: "MSG#2026#m1"}}
	conv := Change{Event: Modify, Key: table.Key{PK: "CONV#acme#c1", SK: "CONV"}}
	tests := []struct {
		name    string
		filters []Filter
		want    [2]bool // msg, conv
	}{
		{"none: everything", nil, [2]bool{true, true}},
		{"empty filter: everything", []Filter{{}}, [2]bool{true, true}},
		{"pk prefix", []Filter{{PKPrefix: "MSGS#"}}, [2]bool{true, false}},
		{"pk and sk prefix", []Filter{{PKPrefix: "MSGS#", SKPrefix: "ATT#"}}, [2]bool{false, false}},
		{"event", []Filter{{Events: []Event{Modify, Remove}}}, [2]bool{false, true}},
		{"any of two", []Filter{{PKPrefix: "MSGS#", Events: []Event{Insert}}, {SKPrefix: "CONV"}}, [2]bool{true, true}},
	}
	for _, tt := range tests {
		if got := [2]bool{MatchAny(tt.filters, msg), MatchAny(tt.filters, conv)}; got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPattern(t *testing.T) {
	tests := []struct {
		f    Filter
		want string
	}{
		{Filter{}, `{}`},
		{Filter{PKPrefix: "MSGS#"}, `{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"MSGS#"}]}}}}`},
		{Filter{SKPrefix: "MSG#", Events: []Event{Insert, Modify}}, `{"dynamodb":{"Keys":{"SK":{"S":[{"prefix":"MSG#"}]}}},"eventName":["INSERT","MODIFY"]}`},
	}
	for _, tt := range tests {
		if got := tt.f.Pattern(); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestImage(t *testing.T) {
	var c Change
	if err := c.New.Decode(&struct{}{}); err == nil {
		t.Error("decoding no image: no error")
	}
	im := Image(`{"PK":"a","SK":"b","ver":3,"x":[1]}`)
	if k := im.Keys(); k.PK != "a" || k.SK != "b" || k.Ver != 3 {
		t.Errorf("keys: %+v", k)
	}
	if err := im.Decode(&struct {
		X string `json:"x"`
	}{}); err == nil {
		t.Error("decoding into a mismatched struct: no error")
	}
}

func TestImageOf(t *testing.T) {
	type item struct {
		table.Keys
		Text string `json:"text"`
	}
	in := &item{Keys: table.Keys{PK: "a", SK: "b"}, Text: "hola"}
	im, err := ImageOf(in)
	if err != nil {
		t.Fatal(err)
	}
	var out item
	if err := im.Decode(&out); err != nil || out != *in {
		t.Errorf("round trip: %+v, %v", out, err)
	}
}
