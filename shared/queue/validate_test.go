package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"ascii", "hello", true},
		{"tab newline return", "a\tb\nc\rd", true},
		{"latin and CJK", "héllo 日本", true},
		{"emoji above U+FFFF", "👋🏽", true},
		{"U+10FFFF", "\U0010FFFF", true},
		{"U+FFFD", "\uFFFD", true},
		{"NUL", "a\x00b", false},
		{"other control", "a\x1bb", false},
		{"U+FFFE", "\uFFFE", false},
		{"U+FFFF", "\uFFFF", false},
		{"invalid UTF-8", "a\xffb", false},
		{"encoded surrogate", "\xed\xa0\x80", false},
		{"truncated sequence", "\xe6\x97", false},
		{"empty", "", true},
	}
	for _, tt := range tests {
		if got := ValidText([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: ValidText(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ten := map[string]string{}
	for _, k := range strings.Split("a b c d e f g h i j", " ") {
		ten[k] = "v"
	}
	tests := []struct {
		name string
		msg  Outgoing
		ok   bool
	}{
		{"plain", Outgoing{Body: []byte("x")}, true},
		{"ten attributes", Outgoing{Body: []byte("x"), Attributes: ten}, true},
		{"largest delay", Outgoing{Body: []byte("x"), Delay: MaxDelay}, true},
		{"largest size", Outgoing{Body: []byte(strings.Repeat("x", MaxMessageBytes-len("kString1"))), Attributes: map[string]string{"k": "1"}}, true},
		{"one byte too large", Outgoing{Body: []byte(strings.Repeat("x", MaxMessageBytes-len("kString1")+1)), Attributes: map[string]string{"k": "1"}}, false},
		{"empty body", Outgoing{}, false},
		{"negative delay", Outgoing{Body: []byte("x"), Delay: -time.Second}, false},
		{"name with space", Outgoing{Body: []byte("x"), Attributes: map[string]string{"a b": "v"}}, false},
		{"name starting with a period", Outgoing{Body: []byte("x"), Attributes: map[string]string{".a": "v"}}, false},
		{"name with two periods", Outgoing{Body: []byte("x"), Attributes: map[string]string{"a..b": "v"}}, false},
		{"reserved amazon prefix", Outgoing{Body: []byte("x"), Attributes: map[string]string{"Amazon.x": "v"}}, false},
		{"value with NUL", Outgoing{Body: []byte("x"), Attributes: map[string]string{"a": "\x00"}}, false},
		{"name of 257 characters", Outgoing{Body: []byte("x"), Attributes: map[string]string{strings.Repeat("n", 257): "v"}}, false},
	}
	for _, tt := range tests {
		err := Validate(tt.msg)
		if tt.ok && err != nil {
			t.Errorf("%s: Validate = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: Validate = %v, want ErrInvalidMessage", tt.name, err)
		}
	}
}
