package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/localstack"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// A small load against a real local stack: every webhook is acknowledged
// and every message is listed by the API, and the report says so.
func TestLoadAgainstLocalStack(t *testing.T) {
	cfg, err := localstack.LoadConfig("../localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	var out bytes.Buffer
	err = run(t.Context(), []string{"--stack", filepath.Join(dir, "stack.json"), "--count", "60", "--concurrency", "4", "--senders", "3", "--poll", "20ms"}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"floor (HMAC + JSON scan)", st.Info.WebhookURL, "\nstack ", "stack / floor", "60 of 60 listed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A stack that acknowledges webhooks but never lists the messages fails
// the run, naming how many were lost; so does one that refuses them.
func TestLoadReportsLostAndRefused(t *testing.T) {
	const secret = "s3cret"
	var refuse bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/webhook":
			body, _ := io.ReadAll(r.Body)
			if refuse || whatsapp.VerifySignature([]byte(secret), body, r.Header.Get(whatsapp.SignatureHeader)) != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case r.Header.Get("Authorization") != "Bearer tok":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{}})
		}
	}))
	t.Cleanup(srv.Close)
	args := []string{"--stack", filepath.Join(t.TempDir(), "none.json"), "--webhook", srv.URL + "/webhook", "--api", srv.URL + "/v1",
		"--app-secret", secret, "--token", "tok", "--phone-number-id", "1065", "--waba-id", "1022",
		"--count", "10", "--concurrency", "2", "--settle", "200ms", "--poll", "20ms", "--no-floor"}
	if err := run(t.Context(), args, io.Discard); err == nil || !strings.Contains(err.Error(), "10 acknowledged messages were not listed") {
		t.Errorf("lost messages: %v", err)
	}
	refuse = true
	if err := run(t.Context(), args, io.Discard); err == nil || !strings.Contains(err.Error(), "10 webhooks were not acknowledged") {
		t.Errorf("refused webhooks: %v", err)
	}
	if err := run(t.Context(), []string{"--stack", filepath.Join(t.TempDir(), "none.json")}, io.Discard); err == nil || !strings.Contains(err.Error(), "make run") {
		t.Errorf("no stack: %v", err)
	}
}
