package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

var appSecret = []byte("test-app-secret")

type webhookRig struct {
	url    string
	root   string
	queue  *memqueue.Queue
	blobs  *fileblob.Store
	app    *app.App
	server *httptest.Server
}

func newWebhookRig(t *testing.T) *webhookRig {
	t.Helper()
	q := memqueue.New("inbound", memqueue.Options{VisibilityTimeout: time.Minute})
	root := t.TempDir()
	blobs := fileblob.New(root, "http://blobs.invalid", []byte("k"))
	a := app.New(app.Adapters{Table: storagetest.Bolt(t), Blobs: blobs, Inbound: q, Log: quietLog})
	srv := httptest.NewServer(a.Webhook(appSecret, "verify-me"))
	t.Cleanup(srv.Close)
	return &webhookRig{url: srv.URL, root: root, queue: q, blobs: blobs, app: a, server: srv}
}

func (r *webhookRig) post(t *testing.T, body []byte, signature string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", r.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *webhookRig) drain(t *testing.T) []queue.Message {
	t.Helper()
	var out []queue.Message
	for {
		ds, err := r.queue.Receive(context.Background(), 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return out
		}
		for _, d := range ds {
			out = append(out, d.Message)
		}
	}
}

func TestWebhookHandshake(t *testing.T) {
	r := newWebhookRig(t)
	tests := []struct {
		query    string
		want     int
		wantBody string
	}{
		{"hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", 200, "1158201444"},
		{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", 403, ""},
		{"hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", 403, ""},
		{"", 403, ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(r.url + "?" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.wantBody != "" && string(b) != tt.wantBody) {
			t.Errorf("%q: %d %q, want %d %q", tt.query, resp.StatusCode, b, tt.want, tt.wantBody)
		}
	}
}

func TestWebhookReceive(t *testing.T) {
	// Meta escapes unicode; the bytes must reach the queue untouched.
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"100000000000001"},"messages":[{"from":"1555","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"caf\u00e9 \ud83d\udc4b"}}]}}]}]}`)
	tests := []struct {
		name       string
		body       []byte
		signature  string
		want       int
		wantQueued int
	}{
		{"signed", body, whatsapp.Sign(appSecret, body), 200, 1},
		{"missing signature", body, "", 401, 0},
		{"wrong secret", body, whatsapp.Sign([]byte("other"), body), 401, 0},
		{"signature of other bytes", body, whatsapp.Sign(appSecret, bytes.ReplaceAll(body, []byte(`\u00e9`), []byte("é"))), 401, 0},
		{"not hex", body, "sha256=zz", 401, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newWebhookRig(t)
			if got := r.post(t, tt.body, tt.signature); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
			msgs := r.drain(t)
			if len(msgs) != tt.wantQueued {
				t.Fatalf("queued %d, want %d", len(msgs), tt.wantQueued)
			}
			if tt.wantQueued == 1 && !bytes.Equal(msgs[0].Body, tt.body) {
				t.Errorf("queued body differs from the raw body")
			}
		})
	}
}

func TestWebhookMalformedIsKeptNotRetried(t *testing.T) {
	r := newWebhookRig(t)
	body := []byte(`{"object":"whatsapp_business_account","entry":[`)
	if got := r.post(t, body, whatsapp.Sign(appSecret, body)); got != 200 {
		t.Fatalf("status %d, want 200 so Meta stops retrying", got)
	}
	if n := len(r.drain(t)); n != 0 {
		t.Errorf("queued %d, want 0", n)
	}
	found := false
	err := filepath.WalkDir(filepath.Join(r.root, "malformed"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, doc, _ := bytes.Cut(b, []byte("\n")) // the file holds a metadata line, then the blob
		var kept httpapi.QuarantinedBody
		if err := json.Unmarshal(doc, &kept); err != nil {
			return err
		}
		found = found || (kept.Body == string(body) && kept.Reason != "")
		return nil
	})
	if err != nil || !found {
		t.Errorf("malformed body not kept for inspection under malformed/ (err %v)", err)
	}
}

func TestWebhookOversizedBody(t *testing.T) {
	r := newWebhookRig(t)
	body := bytes.Repeat([]byte("x"), 4<<20+1)
	if got := r.post(t, body, whatsapp.Sign(appSecret, body)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", got)
	}
	if n := len(r.drain(t)); n != 0 {
		t.Errorf("queued %d, want 0", n)
	}
}

// A 3 MB body, larger than a queue message, goes through the blob store and
// is processed in full by the inbound consumer.
func TestWebhookLargeBodyClaimCheck(t *testing.T) {
	r := newWebhookRig(t)
	integ := &integration.Integration{ID: "int-1", Org: "acme", PhoneNumberID: "100000000000001", Active: true,
		Preferences: integration.Preferences{Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-sam"}}}}
	if err := r.app.Store.CreateIntegration(context.Background(), integ); err != nil {
		t.Fatal(err)
	}
	if err := r.app.Store.UpsertUser(context.Background(), auth.Principal{Org: "acme", UserID: "u-sam"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Unix()
	var msgs []string
	for i := 0; len(strings.Join(msgs, ",")) < 3<<20; i++ {
		msgs = append(msgs, fmt.Sprintf(`{"from":"15550000001","id":"wamid.big%05d","timestamp":"%d","type":"text","text":{"body":"%s"}}`,
			i, start+int64(i), strings.Repeat("ñ", 5000)))
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"100000000000001"},"contacts":[{"wa_id":"15550000001","profile":{"name":"Big"}}],"messages":[` + strings.Join(msgs, ",") + `]}}]}]}`)
	if got := r.post(t, body, whatsapp.Sign(appSecret, body)); got != 200 {
		t.Fatalf("status %d", got)
	}
	queued := r.drain(t)
	if len(queued) != 1 {
		t.Fatalf("queued %d", len(queued))
	}
	if _, ok := queue.Claimed(queued[0]); !ok || len(queued[0].Body) > queue.MaxBodyBytes {
		t.Fatalf("a %d-byte body was not claim-checked", len(body))
	}
	if failed := r.app.InboundHandler()(context.Background(), queued); len(failed) != 0 {
		t.Fatalf("inbound failed %v", failed)
	}
	if got := r.app.Intake.Counts.Messages.Load(); got != int64(len(msgs)) {
		t.Errorf("stored %d messages, want %d", got, len(msgs))
	}
	// Redelivery of the same queue message stores nothing new.
	if failed := r.app.InboundHandler()(context.Background(), queued); len(failed) != 0 {
		t.Fatalf("redelivery failed %v", failed)
	}
	if got := r.app.Intake.Counts.Duplicates.Load(); got != int64(len(msgs)) {
		t.Errorf("duplicates %d, want %d", got, len(msgs))
	}
}

// The stack creates the secret with a placeholder app secret, which is
// public (it is in this repository): a body signed with it must never be
// accepted. The webhook answers 503 (Meta keeps retrying) and logs the
// metric the alarm counts, until the real secret is in.
func TestWebhookRefusesThePlaceholderSecret(t *testing.T) {
	q := memqueue.New("inbound", memqueue.Options{VisibilityTimeout: time.Minute})
	var logs bytes.Buffer
	a := app.New(app.Adapters{Table: storagetest.Bolt(t), Blobs: fileblob.New(t.TempDir(), "http://blobs.invalid", []byte("k")), Inbound: q,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	srv := httptest.NewServer(a.Webhook([]byte("REPLACE_WITH_META_APP_SECRET"), "verify-me"))
	t.Cleanup(srv.Close)
	r := &webhookRig{url: srv.URL, queue: q}
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	if got := r.post(t, body, whatsapp.Sign([]byte("REPLACE_WITH_META_APP_SECRET"), body)); got != http.StatusServiceUnavailable {
		t.Errorf("signed with the placeholder: %d, want 503", got)
	}
	if n := len(r.drain(t)); n != 0 {
		t.Errorf("queued %d bodies signed with the placeholder", n)
	}
	if !strings.Contains(logs.String(), `"metric":"webhook_secret_placeholder"`) {
		t.Errorf("no webhook_secret_placeholder metric in the logs:\n%s", logs.String())
	}
	// The handshake needs only the verify token, which the stack generated.
	resp, err := http.Get(srv.URL + "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("handshake: %d, want 200", resp.StatusCode)
	}
}

// During a rotation both the new app secret and the previous one verify;
// the placeholder never does, not even as the previous one.
func TestWebhookAcceptsThePreviousSecretDuringARotation(t *testing.T) {
	q := memqueue.New("inbound", memqueue.Options{VisibilityTimeout: time.Minute})
	a := app.New(app.Adapters{Table: storagetest.Bolt(t), Blobs: fileblob.New(t.TempDir(), "http://blobs.invalid", []byte("k")), Inbound: q, Log: quietLog})
	srv := httptest.NewServer(a.WebhookFrom(httpapi.StaticSecret{AppSecret: "new-secret", PreviousAppSecret: "old-secret", VerifyToken: "v"}))
	t.Cleanup(srv.Close)
	placeholderPrevious := httptest.NewServer(a.WebhookFrom(httpapi.StaticSecret{AppSecret: "new-secret", PreviousAppSecret: httpapi.PlaceholderAppSecret, VerifyToken: "v"}))
	t.Cleanup(placeholderPrevious.Close)
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	for _, tc := range []struct {
		url, secret string
		want        int
	}{
		{srv.URL, "new-secret", 200},
		{srv.URL, "old-secret", 200},
		{srv.URL, "other", 401},
		{placeholderPrevious.URL, "new-secret", 200},
		{placeholderPrevious.URL, httpapi.PlaceholderAppSecret, 401},
	} {
		r := &webhookRig{url: tc.url, queue: q}
		if got := r.post(t, body, whatsapp.Sign([]byte(tc.secret), body)); got != tc.want {
			t.Errorf("signed with %q: %d, want %d", tc.secret, got, tc.want)
		}
	}
}

// The webhook's refusals are in the API's error shape, like every route's.
func TestWebhookErrorsAreJSON(t *testing.T) {
	r := newWebhookRig(t)
	placeholder := app.New(app.Adapters{Table: storagetest.Bolt(t), Blobs: r.blobs, Inbound: r.queue, Log: quietLog})
	unconfigured := httptest.NewServer(placeholder.Webhook([]byte(httpapi.PlaceholderAppSecret), "verify-me"))
	t.Cleanup(unconfigured.Close)
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	big := bytes.Repeat([]byte("x"), 4<<20+1)
	tests := []struct {
		name, method, url string
		body              []byte
		signature         string
		want              int
		code, allow       string
	}{
		{"unknown method", "DELETE", r.url, nil, "", 405, "method_not_allowed", "GET, POST"},
		{"bad signature", "POST", r.url, body, "sha256=00", 401, "unauthenticated", ""},
		{"wrong verify token", "GET", r.url + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", nil, "", 403, "forbidden", ""},
		{"too large", "POST", r.url, big, whatsapp.Sign(appSecret, big), 413, "too_large", ""},
		{"placeholder secret", "POST", unconfigured.URL, body, whatsapp.Sign([]byte(httpapi.PlaceholderAppSecret), body), 503, "unavailable", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, tt.url, bytes.NewReader(tt.body))
		if tt.signature != "" {
			req.Header.Set("X-Hub-Signature-256", tt.signature)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || errorCode(raw) != tt.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s %q, want %d %s in the JSON error shape", tt.name, resp.StatusCode, resp.Header.Get("Content-Type"), raw, tt.want, tt.code)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s: Allow %q, want %q", tt.name, got, tt.allow)
		}
	}
}
