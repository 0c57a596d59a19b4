package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

func testConfig(t *testing.T, dir string) Config {
	t.Helper()
	cfg, err := LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	return cfg
}

func start(t *testing.T, cfg Config) *Stack {
	t.Helper()
	st, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func postWebhook(t *testing.T, st *Stack, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", st.Info.WebhookURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", whatsapp.Sign([]byte(st.Info.AppSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(t *testing.T, st *Stack, role, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", st.Info.APIURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+st.Info.Tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type convList struct {
	Items []struct {
		ID       string `json:"id"`
		OwnerID  string `json:"ownerId"`
		Customer struct {
			Name string `json:"name"`
		} `json:"customer"`
	} `json:"items"`
}

// waitFor polls until cond holds: the inbound queue is asynchronous.
func waitFor(t *testing.T, what string, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range state {
				what += ": " + s()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drained says whether the named queues hold no message, visible, delayed
// or in flight: every delivery was handled and deleted.
func drained(st *Stack, queues ...string) bool {
	stats := st.QueueStats()
	for _, name := range queues {
		if s := stats[name]; s.Visible+s.Delayed+s.InFlight > 0 {
			return false
		}
	}
	return true
}

func TestStackEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	st := start(t, cfg)

	var info Info
	b, err := os.ReadFile(filepath.Join(dir, "stack.json"))
	if err != nil || json.Unmarshal(b, &info) != nil {
		t.Fatalf("stack.json: %v", err)
	}
	if info.WebhookURL == "" || info.APIURL == "" || info.VerifyToken == "" || info.AppSecret == "" || info.PhoneNumberID == "" || info.Tokens["user"] == "" || info.Tokens["admin"] == "" {
		t.Fatalf("stack.json lacks fields: %s", b)
	}

	// Meta's handshake.
	resp, err := http.Get(info.WebhookURL + "?hub.mode=subscribe&hub.verify_token=" + info.VerifyToken + "&hub.challenge=42")
	if err != nil {
		t.Fatal(err)
	}
	challenge, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(challenge) != "42" {
		t.Errorf("handshake answered %q", challenge)
	}

	now := time.Now().Unix()
	body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Ana D\u00edaz"},"wa_id":"15551234567"}],"messages":[{"from":"15551234567","id":"wamid.E2E1","timestamp":"%d","type":"text","text":{"body":"Hola \ud83d\udc4b"}}]}}]}]}`, info.PhoneNumberID, now))
	for range 3 { // Meta may deliver the same webhook more than once
		if got := postWebhook(t, st, body); got != 200 {
			t.Fatalf("webhook: %d", got)
		}
	}
	// A wrong signature changes nothing.
	req, _ := http.NewRequest("POST", info.WebhookURL, bytes.NewReader(bytes.ReplaceAll(body, []byte("E2E1"), []byte("E2E2"))))
	req.Header.Set("X-Hub-Signature-256", whatsapp.Sign([]byte("wrong"), body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("bad signature: %v %v", err, resp.StatusCode)
	}

	var list convList
	waitFor(t, "the conversation", func() bool {
		list = convList{}
		getJSON(t, st, "user", "/conversations", &list)
		return len(list.Items) == 1
	})
	if list.Items[0].Customer.Name != "Ana Díaz" || list.Items[0].OwnerID == "" {
		t.Errorf("conversation %+v", list.Items[0])
	}
	var msgs struct {
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
	}
	waitFor(t, "the duplicate deliveries to be processed", func() bool { return drained(st, "inbound") })
	getJSON(t, st, "user", "/conversations/"+list.Items[0].ID+"/messages", &msgs)
	if len(msgs.Items) != 1 || msgs.Items[0].Text != "Hola 👋" {
		t.Errorf("messages %+v, want exactly one", msgs.Items)
	}

	// State survives a restart on the same directory.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := start(t, cfg)
	defer st2.Close()
	var again convList
	getJSON(t, st2, "admin", "/conversations", &again)
	if len(again.Items) != 1 || again.Items[0].ID != list.Items[0].ID {
		t.Errorf("after restart: %+v", again.Items)
	}
}

func TestSecondStackOnSameAddressFailsClearly(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	st := start(t, cfg)
	defer st.Close()
	cfg2 := testConfig(t, t.TempDir())
	cfg2.Addr = st.ln.Addr().String()
	_, err := Start(context.Background(), cfg2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("already running")) {
		t.Fatalf("second stack: %v, want a clear 'already running' error", err)
	}
}

// errorLog records the messages of the records at ERROR level.
type errorLog struct {
	slog.Handler
	mu     sync.Mutex
	errors []string
}

func (h *errorLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		h.errors = append(h.errors, r.Message)
		h.mu.Unlock()
	}
	return nil
}

func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

// Close waits for the batches the consumers are handling: none of them
// finds the table closed under it, and a restart finds every message the
// webhook acknowledged.
func TestCloseWaitsForConsumers(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	logs := &errorLog{Handler: slog.NewTextHandler(io.Discard, nil)}
	st, err := Start(context.Background(), cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	now := time.Now().Unix()
	for i := range n {
		body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"%s"},"contacts":[{"profile":{"name":"C %d"},"wa_id":"1555300%04d"}],"messages":[{"from":"1555300%04d","id":"wamid.CLOSE%d","timestamp":"%d","type":"text","text":{"body":"hi"}}]}}]}]}`,
			st.Info.PhoneNumberID, i, i, i, i, now))
		if got := postWebhook(t, st, body); got != 200 {
			t.Fatalf("webhook %d: %d", i, got)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	logs.mu.Lock()
	if len(logs.errors) > 0 {
		t.Errorf("errors logged while closing: %q", logs.errors)
	}
	logs.mu.Unlock()

	st2 := start(t, cfg)
	defer st2.Close()
	waitFor(t, "every acknowledged message after the restart", func() bool {
		var list convList
		getJSON(t, st2, "admin", "/conversations?limit=100", &list)
		return len(list.Items) == n && drained(st2, "inbound")
	})
}

// A client that trickles its headers or body, or idles on a kept-alive
// connection, is cut off rather than holding the connection forever.
func TestServerTimesOutSlowAndIdleClients(t *testing.T) {
	st := start(t, testConfig(t, t.TempDir()))
	defer st.Close()
	for name, d := range map[string]time.Duration{
		"read header": st.srv.ReadHeaderTimeout, "read": st.srv.ReadTimeout, "idle": st.srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s timeout unset", name)
		}
	}
	if st.srv.ReadTimeout < time.Minute {
		t.Errorf("read timeout %v: too short for an attachment upload", st.srv.ReadTimeout)
	}
}
