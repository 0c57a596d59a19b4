package wshub_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/local/wshub"
	"github.com/wacrm/wacrm/shared/notify"
)

var issuer = &auth.HMACIssuer{Issuer: "test", Audience: "wacrm", Key: []byte("0123456789abcdef0123456789abcdef")}

func token(t *testing.T, iss *auth.HMACIssuer, org, user string) string {
	t.Helper()
	tok, err := iss.Issue(auth.Principal{UserID: user, Org: org}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newHub(t *testing.T) (*wshub.Hub, string) {
	hub := &wshub.Hub{Auth: issuer, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return hub, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func waitConns(t *testing.T, hub *wshub.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if hub.Connections() == n {
			return
		}
	}
	t.Fatalf("connections = %d, want %d", hub.Connections(), n)
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func noMessage(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, b, err := c.Read(ctx); err == nil {
		t.Fatalf("unexpected event %s", b)
	}
}

func TestPushGoesToTheUsersItConcerns(t *testing.T) {
	hub, url := newHub(t)
	sam := dial(t, url+"?token="+token(t, issuer, "acme", "u-sam"), nil)
	// The browser way: the token as a subprotocol.
	lee := dial(t, url, &websocket.DialOptions{Subprotocols: []string{"wacrm", token(t, issuer, "acme", "u-lee")}})
	if lee.Subprotocol() != "wacrm" {
		t.Fatalf("subprotocol %q, want wacrm", lee.Subprotocol())
	}
	eve := dial(t, url+"?token="+token(t, issuer, "other", "u-sam"), nil) // same user id, other org
	waitConns(t, hub, 3)

	err := hub.Push(context.Background(), []notify.Event{
		{Type: notify.NotificationRaised, Org: "acme", UserID: "u-sam", ConversationID: "conv_1", NotificationID: "ntf_1_1", Count: 1},
		{Type: notify.MessageReceived, Org: "acme", ConversationID: "conv_1", MessageID: "wamid.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := read(t, sam); m["type"] != "notification.raised" || m["notificationId"] != "ntf_1_1" || m["count"] != 1.0 {
		t.Fatalf("sam got %v", m)
	}
	if m := read(t, sam); m["type"] != "message.received" {
		t.Fatalf("sam got %v", m)
	}
	if m := read(t, lee); m["type"] != "message.received" || m["messageId"] != "wamid.1" {
		t.Fatalf("lee got %v (the notification is sam's)", m)
	}
	noMessage(t, eve)
}

func TestRefusesBadTokens(t *testing.T) {
	_, url := newHub(t)
	other := &auth.HMACIssuer{Issuer: "test", Audience: "someone-else", Key: issuer.Key}
	expired := &auth.HMACIssuer{Issuer: "test", Audience: "wacrm", Key: issuer.Key, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	noOrg, _ := issuer.Issue(auth.Principal{UserID: "u-sam", Org: ""}, time.Hour)
	for name, u := range map[string]string{
		"no token":       url,
		"wrong audience": url + "?token=" + token(t, other, "acme", "u-sam"),
		"expired":        url + "?token=" + token(t, expired, "acme", "u-sam"),
		"no org":         url + "?token=" + noOrg,
		"garbage":        url + "?token=abc",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, u, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v %v, want 401", name, err, resp)
		}
	}
}

func TestClosedSocketsAreCleanedUp(t *testing.T) {
	hub, url := newHub(t)
	c := dial(t, url+"?token="+token(t, issuer, "acme", "u-sam"), nil)
	waitConns(t, hub, 1)
	c.Close(websocket.StatusNormalClosure, "bye")
	waitConns(t, hub, 0)
	if err := hub.Push(context.Background(), []notify.Event{{Type: notify.MessageReceived, Org: "acme"}}); err != nil {
		t.Fatal(err)
	}
}
