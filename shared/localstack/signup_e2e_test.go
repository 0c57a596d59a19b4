package localstack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wacrm/wacrm/shared/localstack"
)

// TestSignupEndToEnd: on make run's stack an admin connects the second
// WABA of the demo through Embedded Signup (the simulator plays Meta's
// popup), connects its number without seeing a token, a customer writes
// to that number and gets an answer from it; after a restart the
// simulator still knows the customer, so the window is open and a reply
// goes out.
func TestSignupEndToEnd(t *testing.T) {
	cfg, err := localstack.LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := localstack.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	admin, user := st.Info.Tokens["admin"], st.Info.Tokens["user"]
	const waba, number, customer = "200000000000002", "100000000000004", "15550004444"
	if len(st.Info.Numbers) != 4 {
		t.Errorf("stack.json lists %d numbers, want the demo's 4", len(st.Info.Numbers))
	}

	var signup struct {
		Code string `json:"code"`
	}
	if s := call(t, "POST", st.Info.SimulatorURL+"/_sim/signup", "", map[string]any{"wabaId": waba}, &signup); s != http.StatusOK || signup.Code == "" {
		t.Fatalf("signup: %d %+v", s, signup)
	}
	var numbers struct {
		Items []struct {
			PhoneNumberID string `json:"phoneNumberId"`
			Usable        bool   `json:"usable"`
		} `json:"items"`
	}
	if s := call(t, "POST", st.Info.APIURL+"/integrations/connect", admin, map[string]any{"code": signup.Code, "wabaId": waba}, &numbers); s != http.StatusOK ||
		len(numbers.Items) != 1 || numbers.Items[0].PhoneNumberID != number || !numbers.Items[0].Usable {
		t.Fatalf("connect: %d %+v", s, numbers)
	}
	var integ struct {
		ID string `json:"id"`
	}
	if s := call(t, "POST", st.Info.APIURL+"/integrations", admin, map[string]any{"nickname": "Support", "phoneNumberId": number, "wabaId": waba,
		"preferences": map[string]any{"assign": map[string]any{"kind": "user", "ids": []string{"u-sam"}}}}, &integ); s != http.StatusCreated {
		t.Fatalf("create from the signup: %d", s)
	}

	if s := call(t, "POST", st.Info.SimulatorURL+"/_sim/send", "", map[string]any{"phoneNumberId": number, "from": customer, "name": "Bo", "text": "Hello support"}, nil); s != http.StatusOK {
		t.Fatalf("customer writes to the new number: %d", s)
	}
	convID := waitForConversation(t, st, user)
	buyCredits(t, st, admin, 100_000, "pm_card_visa") // replies are paid for
	reply := func(st *localstack.Stack, key, text string) {
		t.Helper()
		if s := call(t, "POST", st.Info.APIURL+"/conversations/"+convID+"/messages", st.Info.Tokens["user"], map[string]any{"text": text}, nil, "Idempotency-Key", key); s != http.StatusAccepted {
			t.Fatalf("reply %q: %d", text, s)
		}
		eventually(t, "the customer gets "+text, func() bool {
			for _, m := range st.Sim.Outbox(customer) {
				if m.Text == text && m.PhoneNumberID == number && m.Failed == nil {
					return true
				}
			}
			return false
		})
	}
	reply(st, "first", "Hi Bo, how can we help?")

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := localstack.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	if !st2.Sim.WindowOpen(number, customer) {
		t.Fatal("after a restart the simulator forgot the customer")
	}
	reply(st2, "second", "Still here after a restart")
}

func waitForConversation(t *testing.T, st *localstack.Stack, token string) string {
	t.Helper()
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	eventually(t, "the conversation", func() bool {
		call(t, "GET", st.Info.APIURL+"/conversations?owner=u-sam", token, nil, &list)
		return len(list.Items) == 1
	})
	return list.Items[0].ID
}
