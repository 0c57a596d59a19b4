package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/localstack"
)

// The simulator CLI drives the real local stack through the stack.json it
// writes, as a newcomer does after `make run`.
func TestCLIAgainstLocalStack(t *testing.T) {
	dir := t.TempDir()
	cfg, err := localstack.LoadConfig("../localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stack := filepath.Join(dir, "stack.json")
	cli := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append(args[:1:1], append([]string{"--stack", stack}, args[1:]...)...), &out, &errb); err != nil {
			t.Fatalf("simulator %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	cli("handshake")
	cli("send", "--from", "15551234567", "--name", "Ana Díaz", "--text", "Hola 👋")
	cli("send", "--from", "15551234567", "--type", "location")

	var list struct {
		Items []struct {
			ID          string `json:"id"`
			UnreadCount int    `json:"unreadCount"`
		} `json:"items"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", st.Info.APIURL+"/conversations", nil)
		req.Header.Set("Authorization", "Bearer "+st.Info.Tokens["user"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if len(list.Items) == 1 && list.Items[0].UnreadCount == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator's messages did not arrive: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := cli("outbox", "--to", "15551234567"); out == "" {
		t.Errorf("outbox printed nothing")
	}
}
