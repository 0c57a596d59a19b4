package media

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/inbox"
)

func TestLimit(t *testing.T) {
	tests := []struct {
		typ      string
		animated bool
		want     int64
	}{
		{"image", false, 5 << 20},
		{"video", false, 16 << 20},
		{"audio", false, 16 << 20},
		{"document", false, 100 << 20},
		{"sticker", false, 100 << 10},
		{"sticker", true, 500 << 10},
		{"image", true, 5 << 20}, // only stickers animate
		{"something_new", false, 100 << 20},
	}
	for _, tt := range tests {
		if got := Limit(tt.typ, tt.animated); got != tt.want {
			t.Errorf("Limit(%q, %v) = %d, want %d", tt.typ, tt.animated, got, tt.want)
		}
	}
}

func TestAnimated(t *testing.T) {
	tests := []struct {
		typ, content string
		want         bool
	}{
		{"sticker", `{"type":"sticker","sticker":{"id":"1","animated":true}}`, true},
		{"sticker", `{"type":"sticker","sticker":{"id":"1","animated":false}}`, false},
		{"sticker", `{"id":"1","animated":true}`, true}, // the type's own part
		{"sticker", `not json`, false},
		{"sticker", ``, false},
		{"image", `{"type":"image","image":{"animated":true}}`, false},
	}
	for _, tt := range tests {
		m := &inbox.Message{Type: tt.typ, Content: json.RawMessage(tt.content)}
		if got := animated(m); got != tt.want {
			t.Errorf("animated(%s %s) = %v, want %v", tt.typ, tt.content, got, tt.want)
		}
	}
}

func TestChecksumMatches(t *testing.T) {
	body := []byte("the customer's photo")
	sum := sha256.Sum256(body)
	other := sha256.Sum256([]byte("another photo"))
	tests := []struct {
		name, want   string
		ok, verified bool
	}{
		{"hex", hex.EncodeToString(sum[:]), true, true},
		{"HEX", strings.ToUpper(hex.EncodeToString(sum[:])), true, true},
		{"base64", base64.StdEncoding.EncodeToString(sum[:]), true, true},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(sum[:]), true, true},
		{"base64url", base64.URLEncoding.EncodeToString(sum[:]), true, true},
		{"hex mismatch", hex.EncodeToString(other[:]), false, true},
		{"base64 mismatch", base64.StdEncoding.EncodeToString(other[:]), false, true},
		{"none", "", true, false},
		{"unknown encoding", "abc", true, false},
	}
	for _, tt := range tests {
		ok, verified := checksumMatches(tt.want, body)
		if ok != tt.ok || verified != tt.verified {
			t.Errorf("%s: got ok=%v verified=%v, want %v %v", tt.name, ok, verified, tt.ok, tt.verified)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{512, "512 bytes"},
		{100 << 10, "100 KB"},
		{100<<10 + 1, "100.1 KB"},
		{5 << 20, "5 MB"},
		{5<<20 + 1, "5.1 MB"},
		{6_500_000, "6.2 MB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestBlobKey(t *testing.T) {
	tests := []struct {
		org, conv, msg, want string
	}{
		{"acme", "conv_abc", "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTE1REEzREFBNjg5NjZDRTAwQgA=", "media/acme/conv_abc/wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTE1REEzREFBNjg5NjZDRTAwQgA="},
		// base64 wamids may hold '/', which must not add a level (or an empty one).
		{"acme", "conv_abc", "wamid.ab//cd+e=", "media/acme/conv_abc/wamid.ab%2F%2Fcd+e="},
		{"org 1", "c", "m%", "media/org%201/c/m%25"},
	}
	for _, tt := range tests {
		if got := BlobKey(tt.org, tt.conv, tt.msg); got != tt.want {
			t.Errorf("BlobKey(%q, %q, %q) = %q, want %q", tt.org, tt.conv, tt.msg, got, tt.want)
		}
	}
}

func TestJobRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	m := &inbox.Message{Org: "acme", ConversationID: "conv_1", ID: "wamid.1", Type: "image", Timestamp: ts,
		Media: &inbox.Media{WhatsAppID: "1234", MimeType: "image/jpeg"}}
	job, err := JobFor(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeJob(job.Encode())
	if err != nil {
		t.Fatal(err)
	}
	want := Job{Org: "acme", ConversationID: "conv_1", MessageID: "wamid.1", Timestamp: ts, WhatsAppMediaID: "1234",
		MimeType: "image/jpeg", Type: "image", Attempt: 1}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := JobFor(&inbox.Message{ID: "wamid.2", Type: "text"}); err == nil {
		t.Error("a job for a message without media")
	}
	for _, body := range []string{`{`, `{"org":"acme"}`, `{"org":"acme","conversationId":"c","messageId":"m","timestamp":"2026-11-20T09:00:00Z"}`} {
		if _, err := DecodeJob([]byte(body)); err == nil {
			t.Errorf("DecodeJob(%s) accepted", body)
		}
	}
}
