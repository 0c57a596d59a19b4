package localstack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/localstack"
)

// TestRefundAndRechargeFromTheStream runs billing's change consumer in the
// local stack: a charged reply that the simulator refuses for good is
// refunded once, and the charge that takes the balance below the
// auto-recharge minimum makes exactly one recharge with the saved card,
// credited once (through the payment stand-in's signed event).
func TestRefundAndRechargeFromTheStream(t *testing.T) {
	cfg, err := localstack.LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
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
	api := st.Info.APIURL

	// conversation opens a conversation with a new customer and returns its
	// URL and the price of its first reply.
	seen := 0
	conversation := func(customer string) (string, int64) {
		t.Helper()
		if got := call(t, "POST", st.Info.SimulatorURL+"/_sim/send", "", map[string]any{
			"phoneNumberId": st.Info.PhoneNumberID, "from": customer, "name": "Ana", "text": "Hola",
		}, nil); got != http.StatusOK {
			t.Fatalf("customer send: %d", got)
		}
		seen++
		var list struct {
			Items []struct {
				ID    string `json:"id"`
				WAID  string `json:"waId"`
				Phone string `json:"customerPhone"`
			} `json:"items"`
		}
		eventually(t, "the conversation", func() bool {
			return call(t, "GET", api+"/conversations", user, nil, &list) == http.StatusOK && len(list.Items) == seen
		})
		var conv struct {
			ID        string `json:"id"`
			NextReply struct {
				Credits int64 `json:"credits"`
			} `json:"nextReply"`
		}
		for _, c := range list.Items {
			call(t, "GET", api+"/conversations/"+c.ID, user, nil, &conv)
			if conv.NextReply.Credits > 0 {
				return api + "/conversations/" + c.ID, conv.NextReply.Credits
			}
		}
		t.Fatalf("no unpaid conversation with %s", customer)
		return "", 0
	}
	type entry struct {
		Kind   string `json:"kind"`
		Amount int64  `json:"amount"`
	}
	ledger := func() map[string][]int64 {
		var page struct {
			Items []entry `json:"items"`
		}
		if got := call(t, "GET", api+"/billing/ledger?limit=100", admin, nil, &page); got != http.StatusOK {
			t.Fatalf("ledger: %d", got)
		}
		out := map[string][]int64{}
		for _, e := range page.Items {
			out[e.Kind] = append(out[e.Kind], e.Amount)
		}
		return out
	}
	balance := func() int64 {
		var b billingView
		call(t, "GET", api+"/billing", admin, nil, &b)
		return b.Balance
	}

	const bought = 100_000
	buyCredits(t, st, admin, bought, "pm_card_visa")

	// A reply Meta refuses for good (131049) is refunded, once.
	convURL, price := conversation("15557650001")
	if got := call(t, "POST", st.Info.SimulatorURL+"/_sim/fail", "", map[string]any{"code": 131049, "count": 1}, nil); got != http.StatusOK {
		t.Fatalf("sim fail: %d", got)
	}
	if got := call(t, "POST", convURL+"/messages", user, map[string]any{"text": "Hola Ana"}, nil); got != http.StatusAccepted {
		t.Fatalf("reply: %d", got)
	}
	eventually(t, "the failed reply refunded", func() bool {
		l := ledger()
		return len(l["refund"]) == 1 && balance() == bought
	})
	if l := ledger(); len(l["charge"]) != 1 || l["refund"][0] != price {
		t.Fatalf("ledger after the refund: %v (price %d)", l, price)
	}

	// Auto-recharge: the next paid reply crosses the minimum.
	minimum := balance() - price + 1
	const amount = 50_000
	if got := call(t, "PUT", api+"/billing/auto-recharge", admin,
		map[string]any{"enabled": true, "minimum": minimum, "amount": amount}, nil); got != http.StatusOK {
		t.Fatalf("auto-recharge: %d", got)
	}
	convURL, price2 := conversation("15557650002")
	if got := call(t, "POST", convURL+"/messages", user, map[string]any{"text": "Hola"}, nil); got != http.StatusAccepted {
		t.Fatalf("reply crossing the minimum: %d", got)
	}
	want := int64(bought) - price2 + amount
	eventually(t, "the recharge credited", func() bool { return balance() == want })
	// More changes of the account (another paid reply, above the minimum
	// now) make no second recharge.
	convURL, price3 := conversation("15557650003")
	if got := call(t, "POST", convURL+"/messages", user, map[string]any{"text": "Hola"}, nil); got != http.StatusAccepted {
		t.Fatalf("reply after the recharge: %d", got)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second recharge to show
	l := ledger()
	if len(l["recharge"]) != 1 || l["recharge"][0] != amount || len(l["refund"]) != 1 {
		t.Fatalf("ledger: %v: want one recharge of %d and one refund", l, amount)
	}
	if got := balance(); got != want-price3 {
		t.Fatalf("balance %d, want %d", got, want-price3)
	}
}
