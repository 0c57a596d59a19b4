package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/local/wshub"
	"github.com/wacrm/wacrm/shared/notify"
)

// watch prints the events pushed to the user whose token stack.json holds.
func TestWatch(t *testing.T) {
	iss := &auth.HMACIssuer{Issuer: "test", Audience: "wacrm", Key: []byte("0123456789abcdef0123456789abcdef")}
	hub := &wshub.Hub{Auth: iss}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	tok, _ := iss.Issue(auth.Principal{UserID: "u-sam", Org: "acme"}, time.Hour)
	path := filepath.Join(t.TempDir(), "stack.json")
	b, _ := json.Marshal(Stack{WebSocketURL: "ws" + strings.TrimPrefix(srv.URL, "http"), Tokens: map[string]string{"user": tok}})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		for hub.Connections() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		_ = hub.Push(context.Background(), []notify.Event{
			{Type: notify.NotificationRaised, Org: "acme", UserID: "u-lee", NotificationID: "ntf_other_1"},
			{Type: notify.NotificationRaised, Org: "acme", UserID: "u-sam", ConversationID: "conv_1", NotificationID: "ntf_1_1", Count: 1},
		})
	}()
	out, err := runCLI(t, "watch", "--stack", path, "--count", "1")
	if err != nil || !strings.HasPrefix(out, `{"type":"notification.raised","conversationId":"conv_1","notificationId":"ntf_1_1","count":1}`+"\n") || strings.Contains(out, "ntf_other_1") {
		t.Fatalf("watch: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "watch", "--stack", path, "--as", "admin"); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("watch without a token: %v", err)
	}
}
