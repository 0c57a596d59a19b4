package localstack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wacrm/wacrm/shared/localstack"
)

// buyCredits buys credits as the admin with a test card through the local
// payment stand-in, and waits until its signed event credited them.
func buyCredits(t *testing.T, st *localstack.Stack, admin string, credits int64, card string) {
	t.Helper()
	var before, after billingView
	call(t, "GET", st.Info.APIURL+"/billing", admin, nil, &before)
	if got := call(t, "POST", st.Info.APIURL+"/billing/purchases", admin,
		map[string]any{"credits": credits, "paymentMethod": card, "saveCard": true}, nil); got != http.StatusAccepted {
		t.Fatalf("purchase: %d", got)
	}
	eventually(t, "the purchase credited", func() bool {
		call(t, "GET", st.Info.APIURL+"/billing", admin, nil, &after)
		return after.Balance == before.Balance+credits
	})
}

type billingView struct {
	Balance     int64 `json:"balance"`
	LastPayment *struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"lastPayment"`
	Card *struct {
		Last4 string `json:"last4"`
	} `json:"card"`
}

// TestBillingEndToEnd is the new user's walk on the local stack: a reply
// without credits is refused with 402 and nothing is sent; the admin buys
// credits with a test card (the stand-in posts Stripe's signed event to the
// real webhook); a reply costs what the rate card says and a second one in
// the same conversation nothing (the conversation model); a declined card
// adds nothing and says why.
func TestBillingEndToEnd(t *testing.T) {
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
	const customer = "15557650000"
	if got := call(t, "POST", st.Info.SimulatorURL+"/_sim/send", "", map[string]any{
		"phoneNumberId": st.Info.PhoneNumberID, "from": customer, "name": "Ana", "text": "Hola",
	}, nil); got != http.StatusOK {
		t.Fatalf("customer send: %d", got)
	}
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	eventually(t, "the conversation", func() bool {
		return call(t, "GET", st.Info.APIURL+"/conversations", user, nil, &list) == http.StatusOK && len(list.Items) == 1
	})
	convURL := st.Info.APIURL + "/conversations/" + list.Items[0].ID
	var conv struct {
		NextReply struct {
			Credits         int64  `json:"credits"`
			Market          string `json:"market"`
			NewConversation bool   `json:"newConversation"`
		} `json:"nextReply"`
	}
	call(t, "GET", convURL, user, nil, &conv)
	if conv.NextReply.Credits <= 0 || conv.NextReply.Market != "NA" || !conv.NextReply.NewConversation {
		t.Fatalf("next reply's price: %+v", conv.NextReply)
	}
	price := conv.NextReply.Credits

	// No credits: 402 with the balance and the price, nothing queued.
	var refusal struct {
		Error struct {
			Code    string         `json:"code"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if got := call(t, "POST", convURL+"/messages", user, map[string]any{"text": "Hola Ana"}, &refusal); got != http.StatusPaymentRequired ||
		refusal.Error.Code != "insufficient_credits" || refusal.Error.Details["price"] != float64(price) || refusal.Error.Details["balance"] != float64(0) {
		t.Fatalf("reply without credits: %d %+v", got, refusal)
	}
	var msgs struct {
		Items []struct{ Direction string } `json:"items"`
	}
	call(t, "GET", convURL+"/messages", user, nil, &msgs)
	if len(msgs.Items) != 1 {
		t.Fatalf("a refused reply was stored: %d messages", len(msgs.Items))
	}

	// The admin buys credits; the first reply pays the conversation, the
	// second rides on it.
	buyCredits(t, st, admin, 100_000, "pm_card_visa")
	var bill billingView
	for i, want := range []int64{100_000 - price, 100_000 - price} {
		if got := call(t, "POST", convURL+"/messages", user, map[string]any{"text": "Hola Ana"}, nil); got != http.StatusAccepted {
			t.Fatalf("reply %d: %d", i, got)
		}
		call(t, "GET", st.Info.APIURL+"/billing", admin, nil, &bill)
		if bill.Balance != want {
			t.Fatalf("after reply %d: balance %d, want %d", i, bill.Balance, want)
		}
	}
	if bill.Card == nil || bill.Card.Last4 != "4242" {
		t.Errorf("saved card: %+v", bill.Card)
	}

	// A declined card: 402, nothing credited, the reason shown.
	if got := call(t, "POST", st.Info.APIURL+"/billing/purchases", admin,
		map[string]any{"credits": 100_000, "paymentMethod": "pm_card_chargeDeclined"}, &refusal); got != http.StatusPaymentRequired || refusal.Error.Code != "payment_failed" {
		t.Fatalf("declined purchase: %d %+v", got, refusal)
	}
	eventually(t, "the decline recorded", func() bool {
		call(t, "GET", st.Info.APIURL+"/billing", admin, nil, &bill)
		return bill.LastPayment != nil && bill.LastPayment.Status == "failed"
	})
	if bill.Balance != 100_000-price || bill.LastPayment.Reason != "generic_decline" {
		t.Errorf("after the decline: %+v %+v", bill.Balance, bill.LastPayment)
	}
}
