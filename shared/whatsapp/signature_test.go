package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestSignKnownVector(t *testing.T) {
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), the
	// RFC 4231-style vector published for HMAC implementations.
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("app-secret-1234")
	escaped := readEvent(t, "message_emoji_escaped.json")
	// The same document re-serialised by Go: equal content, different bytes
	// (Go writes raw UTF-8 and does not escape slashes).
	var doc any
	if err := json.Unmarshal(escaped, &doc); err != nil {
		t.Fatal(err)
	}
	reserialised, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(reserialised, escaped) {
		t.Fatal("re-serialised body should differ from Meta's escaped bytes")
	}
	good := Sign(secret, escaped)
	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"good", secret, escaped, good, nil},
		{"good, uppercase hex", secret, escaped, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), nil},
		{"good, surrounding spaces", secret, escaped, " " + good + " ", nil},
		{"unicode escapes signed as raw bytes", secret, []byte(`{"t":"caf\u00e9 \ud83d\udc4b"}`), Sign(secret, []byte(`{"t":"caf\u00e9 \ud83d\udc4b"}`)), nil},
		{"wrong secret", []byte("another-secret"), escaped, good, ErrSignatureInvalid},
		{"missing header", secret, escaped, "", ErrSignatureMissing},
		{"wrong prefix", secret, escaped, "sha1=" + strings.TrimPrefix(good, "sha256="), ErrSignatureInvalid},
		{"no prefix", secret, escaped, strings.TrimPrefix(good, "sha256="), ErrSignatureInvalid},
		{"bad hex", secret, escaped, "sha256=zz" + good[9:], ErrSignatureInvalid},
		{"short", secret, escaped, good[:len(good)-2], ErrSignatureInvalid},
		{"long", secret, escaped, good + "00", ErrSignatureInvalid},
		{"body re-serialised", secret, reserialised, good, ErrSignatureInvalid},
		{"body with a trailing newline added", secret, append(append([]byte(nil), escaped...), '\n'), good, ErrSignatureInvalid},
		{"escape decoded to UTF-8", secret, []byte(`{"t":"café 👋"}`), Sign(secret, []byte(`{"t":"caf\u00e9 \ud83d\udc4b"}`)), ErrSignatureInvalid},
		{"empty secret", nil, escaped, good, ErrNoAppSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.body, tc.header)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifySignature = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifySignatureEveryEvent(t *testing.T) {
	secret := []byte("s3cr3t")
	for _, tc := range eventCases {
		body := readEvent(t, tc.file)
		if err := VerifySignature(secret, body, Sign(secret, body)); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

func TestVerifyHandshake(t *testing.T) {
	q := func(mode, token, challenge string) url.Values {
		v := url.Values{}
		if mode != "" {
			v.Set("hub.mode", mode)
		}
		if token != "" {
			v.Set("hub.verify_token", token)
		}
		if challenge != "" {
			v.Set("hub.challenge", challenge)
		}
		return v
	}
	tests := []struct {
		name     string
		query    url.Values
		token    string
		want     string
		wantFail bool
	}{
		{"good", q("subscribe", "verify-me", "1158201444"), "verify-me", "1158201444", false},
		{"from a raw query string", mustQuery(t, "hub.mode=subscribe&hub.challenge=abc%20def&hub.verify_token=verify-me"), "verify-me", "abc def", false},
		{"wrong token", q("subscribe", "guess", "1158201444"), "verify-me", "", true},
		{"token prefix", q("subscribe", "verify", "1158201444"), "verify-me", "", true},
		{"wrong mode", q("unsubscribe", "verify-me", "1158201444"), "verify-me", "", true},
		{"no mode", q("", "verify-me", "1158201444"), "verify-me", "", true},
		{"no challenge", q("subscribe", "verify-me", ""), "verify-me", "", true},
		{"no token configured", q("subscribe", "", "1158201444"), "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyHandshake(tc.query, tc.token)
			if tc.wantFail {
				if !errors.Is(err, ErrHandshake) {
					t.Fatalf("VerifyHandshake = %q, %v; want ErrHandshake", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("VerifyHandshake = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
