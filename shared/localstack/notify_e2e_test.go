package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wacrm/wacrm/shared/auth"
)

// offsetClock follows the wall clock from an offset the test moves.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

// socket is a browser's WebSocket on the stack, collecting what it is pushed.
type socket struct {
	mu     sync.Mutex
	events []map[string]any
	conn   *websocket.Conn
}

func openSocket(t *testing.T, st *Stack, token string) *socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, st.Info.WebSocketURL, &websocket.DialOptions{Subprotocols: []string{auth.WebSocketProtocol, token}})
	if err != nil {
		t.Fatalf("open the WebSocket: %v", err)
	}
	s := &socket{conn: c}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var ev map[string]any
			_ = json.Unmarshal(b, &ev)
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return s
}

// types returns the types of the events received so far with the prefix.
func (s *socket) types(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		if typ, _ := ev["type"].(string); strings.HasPrefix(typ, prefix) {
			out = append(out, typ)
		}
	}
	return out
}

func (s *socket) last(typ string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i]["type"] == typ {
			return s.events[i]
		}
	}
	return nil
}

func (s *socket) count(typ, conversationID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ev := range s.events {
		if ev["type"] == typ && (conversationID == "" || ev["conversationId"] == conversationID) {
			n++
		}
	}
	return n
}

// textWebhook is Meta's webhook for one text message at ts.
func textWebhook(pnid, from, name, wamid, text string, ts time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "200000000000001", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550100001", "phone_number_id": pnid},
			"contacts":          []any{map[string]any{"wa_id": from, "profile": map[string]any{"name": name}}},
			"messages": []any{map[string]any{"from": from, "id": wamid, "timestamp": fmt.Sprint(ts.Unix()),
				"type": "text", "text": map[string]any{"body": text}}},
		}}}}},
	})
	return b
}

// TestNotificationsEndToEnd is the issue's check on the local stack: with a
// WebSocket open as the owner, a customer writes three messages (with
// Meta's duplicates, out of order); one notification arrives and updates to
// a count of 3; a snooze brings it back once (across a restart too);
// dismiss closes it; another user sees none of it; the window's warning and
// close arrive for an unanswered conversation and not for an answered one.
func TestNotificationsEndToEnd(t *testing.T) {
	clock := &offsetClock{}
	cfg := testConfig(t, t.TempDir())
	cfg.Now = clock.Now
	st := start(t, cfg)
	defer func() { st.Close() }()
	tokens := map[string]string{}
	for _, u := range cfg.Users {
		tok, err := st.Issuer.Issue(auth.Principal{UserID: u.ID, Org: cfg.Org, Groups: u.Groups}, 30*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[u.ID] = tok
	}
	sockets := map[string]*socket{}
	for id, tok := range tokens {
		sockets[id] = openSocket(t, st, tok)
	}
	api := func(user, method, path string, body, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, st.Info.APIURL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	const ana, bo = "15550001111", "15550002222"
	pnid := st.Info.PhoneNumberID
	t0 := clock.Now()

	// Three messages, with Meta's duplicates, out of order. The first goes
	// through the simulator, so Meta's stand-in knows Ana's window is open
	// (the reply below must be delivered, not refused as 131047).
	var first struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	}
	b, _ := json.Marshal(map[string]any{"phoneNumberId": pnid, "from": ana, "name": "Ana Díaz", "text": "Hola"})
	resp, err := http.Post(st.Info.SimulatorURL+"/_sim/send", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&first)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || first.Status != http.StatusOK {
		t.Fatalf("customer send: %d %+v %v", resp.StatusCode, first, err)
	}
	for _, m := range []struct{ wamid, text string }{
		{"wamid.e2e.3", "¿Precio?"}, {"wamid.e2e.2", "Quiero un presupuesto"},
		{first.ID, "Hola"}, {"wamid.e2e.3", "¿Precio?"},
	} {
		if code := postWebhook(t, st, textWebhook(pnid, ana, "Ana Díaz", m.wamid, m.text, t0)); code != 200 {
			t.Fatalf("webhook: %d", code)
		}
	}
	var convs convList
	waitFor(t, "the conversation", func() bool {
		convs = convList{}
		getJSON(t, st, "admin", "/conversations", &convs)
		return len(convs.Items) == 1
	})
	conv, owner := convs.Items[0].ID, convs.Items[0].OwnerID
	others := []string{}
	for id := range tokens {
		if id != owner {
			others = append(others, id)
		}
	}
	waitFor(t, "the owner's notification at a count of 3", func() bool {
		ev := sockets[owner].last("notification.updated")
		return ev != nil && ev["count"] == 3.0
	})
	if got := sockets[owner].types("notification."); !slices.Equal(got, []string{"notification.raised", "notification.updated", "notification.updated"}) {
		t.Fatalf("owner's notification events %v, want raised then two updates", got)
	}
	var feed struct {
		Items []struct {
			ID       string `json:"id"`
			Count    int    `json:"count"`
			State    string `json:"state"`
			Reminder bool   `json:"reminder"`
		} `json:"items"`
		UnreadCount int `json:"unreadCount"`
	}
	api(owner, "GET", "/notifications", nil, &feed)
	if len(feed.Items) != 1 || feed.Items[0].Count != 3 || feed.UnreadCount != 1 {
		t.Fatalf("owner's feed: %+v", feed)
	}
	id := feed.Items[0].ID
	for _, u := range others {
		waitFor(t, u+" sees the messages arrive", func() bool { return sockets[u].count("message.received", conv) == 3 })
		if got := sockets[u].types("notification."); len(got) != 0 {
			t.Fatalf("%s got %v", u, got)
		}
		var theirs struct{ Items []any }
		if api(u, "GET", "/notifications?state=all", nil, &theirs); len(theirs.Items) != 0 {
			t.Fatalf("%s's feed: %+v", u, theirs)
		}
		if code := api(u, "POST", "/notifications/"+id+"/dismiss", nil, nil); code != http.StatusNotFound {
			t.Fatalf("%s dismisses the owner's notification: %d", u, code)
		}
	}

	// Snooze 15 minutes: back once, with the count.
	if code := api(owner, "POST", "/notifications/"+id+"/snooze", map[string]any{"minutes": 15}, nil); code != http.StatusOK {
		t.Fatalf("snooze: %d", code)
	}
	waitFor(t, "the snooze pushed", func() bool { return sockets[owner].count("notification.updated", conv) == 3 })
	clock.Advance(16 * time.Minute)
	waitFor(t, "the reminder", func() bool { return sockets[owner].count("notification.reminded", conv) == 1 })
	if ev := sockets[owner].last("notification.reminded"); ev["count"] != 3.0 || ev["notificationId"] != id {
		t.Fatalf("reminder event %v", ev)
	}

	// Snooze an hour and restart in the middle: the reminder is not lost.
	if code := api(owner, "POST", "/notifications/"+id+"/snooze", map[string]any{"minutes": 60}, nil); code != http.StatusOK {
		t.Fatalf("snooze: %d", code)
	}
	waitFor(t, "the second snooze pushed", func() bool { return sockets[owner].count("notification.updated", conv) == 4 })
	clock.Advance(30 * time.Minute)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Addr = strings.TrimPrefix(st.Info.APIURL[:strings.LastIndex(st.Info.APIURL, "/")], "http://")
	st = start(t, cfg)
	owned := openSocket(t, st, tokens[owner])
	clock.Advance(35 * time.Minute)
	waitFor(t, "the reminder after the restart", func() bool { return owned.count("notification.reminded", conv) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := owned.count("notification.reminded", conv); n != 1 {
		t.Fatalf("reminded %d times after the restart", n)
	}

	// Dismiss.
	if code := api(owner, "POST", "/notifications/"+id+"/dismiss", nil, nil); code != http.StatusOK {
		t.Fatalf("dismiss: %d", code)
	}
	waitFor(t, "the dismissal pushed", func() bool { return owned.count("notification.dismissed", conv) == 1 })
	api(owner, "GET", "/notifications", nil, &feed)
	if len(feed.Items) != 0 {
		t.Fatalf("active after dismiss: %+v", feed)
	}

	// The window: Ana's conversation is answered, Bo's is not.
	// Replies are paid for: the admin buys credits with a test card.
	if code := api("u-ada", "POST", "/billing/purchases", map[string]any{"credits": 100_000, "paymentMethod": "pm_card_visa"}, nil); code != http.StatusAccepted {
		t.Fatalf("buy credits: %d", code)
	}
	waitFor(t, "the credits", func() bool {
		var b struct{ Balance int64 }
		api("u-ada", "GET", "/billing", nil, &b)
		return b.Balance >= 100_000
	})
	watch := openSocket(t, st, tokens[others[0]])
	if code := api(owner, "POST", "/conversations/"+conv+"/messages", map[string]any{"text": "¡Hola Ana!"}, nil); code != http.StatusAccepted {
		t.Fatalf("reply: %d", code)
	}
	waitFor(t, "the answer pushed", func() bool { return watch.count("conversation.answered", conv) == 1 })
	bt := clock.Now()
	if code := postWebhook(t, st, textWebhook(pnid, bo, "Bo Li", "wamid.e2e.bo", "hello?", bt)); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	var boConv string
	waitFor(t, "Bo's conversation", func() bool {
		convs = convList{}
		getJSON(t, st, "admin", "/conversations", &convs)
		for _, c := range convs.Items {
			if c.ID != conv {
				boConv = c.ID
			}
		}
		return boConv != ""
	})
	waitFor(t, "Bo's message pushed", func() bool { return watch.count("message.received", boConv) == 1 })
	clock.Advance(bt.Add(23*time.Hour + time.Minute).Sub(clock.Now()))
	waitFor(t, "the window closing warning", func() bool { return watch.count("conversation.window_closing", boConv) == 1 })
	clock.Advance(time.Hour)
	waitFor(t, "the close", func() bool { return watch.count("conversation.closed", boConv) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n, m := watch.count("conversation.window_closing", conv), watch.count("conversation.closed", conv); n != 0 || m != 0 {
		t.Fatalf("the answered conversation got %d warnings and %d closes", n, m)
	}
	var c struct {
		Window struct{ Open bool }
	}
	getJSON(t, st, "admin", "/conversations/"+boConv, &c)
	if c.Window.Open {
		t.Fatal("Bo's window open after the close")
	}
}
