package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/localstack"
)

// stackClock is the stack's clock: it follows the wall clock from an offset
// the test moves forward.
type stackClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *stackClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *stackClock) Advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

// call makes one JSON request to the stack and decodes the answer into out.
func call(t *testing.T, method, url, token string, body, out any, headers ...string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplyEndToEnd plays the day the issue describes on the local stack:
// a customer writes through Meta's stand-in, the Messages tab finds the
// conversation, a user answers with a canned response with a merge field,
// the simulator receives the rendered text and its statuses come back, and
// once the window has closed a reply is refused.
func TestReplyEndToEnd(t *testing.T) {
	cfg, err := localstack.LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	clock := &stackClock{}
	cfg.Addr, cfg.DataDir, cfg.Now = "127.0.0.1:0", t.TempDir(), clock.Now
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	user, admin := st.Info.Tokens["user"], st.Info.Tokens["admin"]
	const customer = "15557654321"
	buyCredits(t, st, admin, 100_000, "pm_card_visa") // replies are paid for

	// The customer writes, through the simulator's own endpoint.
	var sent struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	}
	if got := call(t, "POST", st.Info.SimulatorURL+"/_sim/send", "", map[string]any{
		"phoneNumberId": st.Info.PhoneNumberID, "from": customer, "name": "Ana Díaz", "text": "Hola, ¿tienen el modelo azul?",
	}, &sent); got != http.StatusOK || sent.Status != http.StatusOK {
		t.Fatalf("customer send: %d, webhook answered %d", got, sent.Status)
	}

	// The Messages tab finds it among the unanswered.
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Window struct {
				Open bool `json:"open"`
			} `json:"window"`
		} `json:"items"`
	}
	eventually(t, "the conversation in the unanswered list", func() bool {
		return call(t, "GET", st.Info.APIURL+"/conversations?unanswered=all", user, nil, &list) == http.StatusOK && len(list.Items) == 1
	})
	conv := list.Items[0]
	if !conv.Window.Open {
		t.Fatalf("window closed right after the customer wrote")
	}

	// An admin writes a canned response; the user replies with it.
	var cannedResp struct {
		ID string `json:"id"`
	}
	if got := call(t, "POST", st.Info.APIURL+"/canned-responses", admin, map[string]any{
		"module": "Leads", "name": "Stock", "text": "Hola $[Leads.First Name], sí, lo tenemos en azul.",
	}, &cannedResp); got != http.StatusCreated {
		t.Fatalf("create canned response: %d", got)
	}
	replyURL := st.Info.APIURL + "/conversations/" + conv.ID + "/messages"
	var reply struct {
		ID     string `json:"id"`
		Text   string `json:"text"`
		Status string `json:"status"`
	}
	if got := call(t, "POST", replyURL, user, map[string]any{"cannedResponseId": cannedResp.ID}, &reply, "Idempotency-Key", "e2e-1"); got != http.StatusAccepted {
		t.Fatalf("reply: %d", got)
	}
	const want = "Hola Ana, sí, lo tenemos en azul."
	if reply.Text != want || reply.Status != "queued" {
		t.Fatalf("reply %+v", reply)
	}

	// The simulator receives the rendered text...
	var outbox struct {
		Messages []struct {
			ID       string   `json:"id"`
			Text     string   `json:"text"`
			Statuses []string `json:"statuses"`
		} `json:"messages"`
	}
	eventually(t, "the reply in the simulator's outbox", func() bool {
		return call(t, "GET", st.Info.SimulatorURL+"/_sim/outbox?to="+customer, "", nil, &outbox) == http.StatusOK && len(outbox.Messages) == 1
	})
	if outbox.Messages[0].Text != want {
		t.Errorf("customer received %q, want %q", outbox.Messages[0].Text, want)
	}

	// ...and its statuses come back through the webhook: read.
	type message struct {
		ID        string `json:"id"`
		WAMID     string `json:"wamid"`
		Direction string `json:"direction"`
		Status    string `json:"status"`
	}
	var msgs struct {
		Items []message `json:"items"`
	}
	var got message
	eventually(t, "the reply read", func() bool {
		call(t, "GET", replyURL, user, nil, &msgs)
		for _, m := range msgs.Items {
			if m.ID == reply.ID {
				got = m
			}
		}
		return got.Status == "read"
	})
	if got.WAMID != outbox.Messages[0].ID {
		t.Errorf("wamid %q, want the simulator's %q", got.WAMID, outbox.Messages[0].ID)
	}
	// The same Idempotency-Key returns the same message, not a second send.
	var again struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if code := call(t, "POST", replyURL, user, map[string]any{"cannedResponseId": cannedResp.ID}, &again, "Idempotency-Key", "e2e-1"); code != http.StatusOK || again.ID != reply.ID || again.Status != "read" {
		t.Errorf("repeat: %d %+v", code, again)
	}
	var answered struct {
		Items []struct{ ID string } `json:"items"`
	}
	call(t, "GET", st.Info.APIURL+"/conversations?unanswered=all", user, nil, &answered)
	if len(answered.Items) != 0 {
		t.Errorf("conversation still unanswered after the reply")
	}

	// A day later the window is closed: the reply is refused, nothing is sent.
	clock.Advance(24*time.Hour + time.Minute)
	var refusal struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if code := call(t, "POST", replyURL, user, map[string]any{"text": "¿Sigues ahí?"}, &refusal); code != http.StatusUnprocessableEntity || refusal.Error.Code != "window_closed" ||
		!strings.Contains(refusal.Error.Message, "24-hour window closed") {
		t.Errorf("reply after 24 h: %d %+v", code, refusal.Error)
	}
	call(t, "GET", st.Info.SimulatorURL+"/_sim/outbox?to="+customer, "", nil, &outbox)
	if len(outbox.Messages) != 1 {
		t.Errorf("simulator received %d messages, want 1", len(outbox.Messages))
	}
}
