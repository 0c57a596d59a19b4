package billing

import (
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func TestPrice(t *testing.T) {
	card := SampleRateCard()
	if !card.Sample || !strings.Contains(card.Notice, "SAMPLE") {
		t.Fatal("the shipped card must say it is a sample")
	}
	tests := []struct {
		name      string
		model     Model
		waID      string
		category  string
		paidUntil time.Time
		want      Credits
		market    string
		newConv   bool
	}{
		// NA service per conversation: 88 * 1.2 = 105.6 -> 106
		{"conversation opens", PerConversation, "15551234567", CategoryService, time.Time{}, 106, "NA", true},
		{"inside a paid conversation", PerConversation, "15551234567", CategoryService, t0.Add(time.Hour), 0, "NA", false},
		{"paid conversation over", PerConversation, "15551234567", CategoryService, t0, 106, "NA", true},
		{"per message ignores conversations", PerMessage, "15551234567", CategoryService, t0.Add(time.Hour), 24, "NA", false},
		{"longest calling code", PerMessage, "+5511999999999", CategoryMarketing, time.Time{}, 750, "BR", false},
		{"unknown code: default market", PerMessage, "99912345", CategoryUtility, time.Time{}, 93, "OTHER", false},
		{"user id only: default market", PerMessage, "", CategoryService, time.Time{}, 30, "OTHER", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := card.Price(tt.model, tt.waID, tt.category, tt.paidUntil, t0)
			if err != nil {
				t.Fatal(err)
			}
			if q.Credits != tt.want || q.Market != tt.market || q.NewConversation != tt.newConv {
				t.Errorf("got %+v, want %d credits in %s (new conversation %v)", q, tt.want, tt.market, tt.newConv)
			}
			if q.NewConversation && !q.PaidUntil.Equal(t0.Add(24*time.Hour)) {
				t.Errorf("paid until %v, want 24 h later", q.PaidUntil)
			}
		})
	}
}

func TestMarkupRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		base Credits
		bps  int64
		want Credits
	}{{100, 0, 100}, {100, 2000, 120}, {34, 2000, 41}, {1, 1, 2}, {0, 5000, 0}} {
		if got := withMarkup(tt.base, tt.bps); got != tt.want {
			t.Errorf("withMarkup(%d, %d) = %d, want %d", tt.base, tt.bps, got, tt.want)
		}
	}
}

func TestParseRateCardRefusesBadCards(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `{`,
		"unknown field":     `{"version":"x","bogus":1}`,
		"missing category":  `{"version":"v","effective":"2025-07-01","currency":"USD","creditsPerUnit":10000,"defaultMarket":"A","markets":[{"code":"A","callingCodes":["1"],"conversation":{"service":1},"message":{"service":1}}]}`,
		"no default market": `{"version":"v","effective":"2025-07-01","currency":"USD","creditsPerUnit":10000,"defaultMarket":"B","markets":[]}`,
		"bad date":          `{"version":"v","effective":"July","currency":"USD","creditsPerUnit":10000,"defaultMarket":"B","markets":[]}`,
		"float credits":     `{"version":"v","effective":"2025-07-01","currency":"USD","creditsPerUnit":10000,"defaultMarket":"A","markets":[{"code":"A","callingCodes":["1"],"conversation":{"service":1.5,"utility":1,"marketing":1,"authentication":1},"message":{"service":1,"utility":1,"marketing":1,"authentication":1}}]}`,
	} {
		if _, err := ParseRateCard([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDebitNeverNegative(t *testing.T) {
	a := &Account{Org: "o", Balance: 100}
	if _, err := a.Debit(101, Entry{}, t0); !apperr.Is(err, apperr.InsufficientCredits) {
		t.Fatalf("debit over the balance: %v", err)
	}
	var ae *apperr.Error
	_, err := a.Debit(101, Entry{}, t0)
	if !asApp(err, &ae) || ae.Details["balance"] != Credits(100) || ae.Details["price"] != Credits(101) {
		t.Fatalf("refusal details: %+v", ae)
	}
	e, err := a.Debit(100, Entry{MessageID: "m"}, t0)
	if err != nil || a.Balance != 0 || e.BalanceAfter != 0 || e.Amount != -100 || e.Seq != 1 {
		t.Fatalf("debit to zero: %+v %v (balance %d)", e, err, a.Balance)
	}
	e2, _ := a.Credit(KindPurchase, 50, Entry{}, t0.Add(-time.Hour))
	if !e2.At.After(e.At) {
		t.Errorf("entry times went backwards: %v then %v", e.At, e2.At)
	}
}

func asApp(err error, out **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	*out = e
	return ok
}

func TestCrossingMarkedOncePerCrossing(t *testing.T) {
	a := &Account{Org: "o", Balance: 1000, Card: &Card{PaymentMethodID: "pm"}}
	if err := a.SetAuto(true, 500, MinPurchase); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		debit Credits
		due   int64
	}{{400, 0}, {200, 1}, {100, 1}} // 600, 400 (crosses), 300 (still below: same crossing)
	for i, s := range steps {
		if _, err := a.Debit(s.debit, Entry{}, t0); err != nil {
			t.Fatal(err)
		}
		if a.Auto.Due != s.due {
			t.Fatalf("step %d: due %d, want %d", i, a.Auto.Due, s.due)
		}
	}
	a.RechargeSucceeded(1)
	a.Credit(KindRecharge, MinPurchase, Entry{}, t0)
	if _, err := a.Debit(a.Balance-499, Entry{}, t0); err != nil { // down to 499: a second crossing
		t.Fatal(err)
	}
	if a.Auto.Due != 2 || a.Auto.Crossings != 2 {
		t.Fatalf("second crossing: %+v", a.Auto)
	}
}

func TestDeclinedRechargeRetriesThenTurnsOff(t *testing.T) {
	a := &Account{Org: "o", Balance: 1000, Card: &Card{PaymentMethodID: "pm"}}
	_ = a.SetAuto(true, 500, MinPurchase)
	now := t0
	a.Debit(600, Entry{}, now) // crossing 1 due
	for i := 1; i <= MaxRechargeFailures; i++ {
		if a.Auto.Due != 1 {
			t.Fatalf("try %d: nothing due: %+v", i, a.Auto)
		}
		off := a.RechargeDeclined(1, "card_declined", now)
		if off != (i == MaxRechargeFailures) {
			t.Fatalf("try %d: turned off %v", i, off)
		}
		if off {
			break
		}
		a.Debit(1, Entry{}, now) // too early: no retry
		if a.Auto.Due != 0 {
			t.Fatalf("retry before RetryAt")
		}
		now = *a.Auto.RetryAt
		a.Debit(1, Entry{}, now) // the first charge after RetryAt retries
	}
	if a.Auto.Enabled || !strings.Contains(a.Auto.DisabledReason, "card_declined") {
		t.Fatalf("auto-recharge still on or no reason: %+v", a.Auto)
	}
	a.Debit(1, Entry{}, now.Add(24*time.Hour))
	if a.Auto.Due != 0 {
		t.Fatal("a disabled auto-recharge was triggered")
	}
}

func TestRechargeDueOncePerCrossing(t *testing.T) {
	a := &Account{Org: "o", Balance: 1000, Card: &Card{PaymentMethodID: "pm"}}
	_ = a.SetAuto(true, 500, MinPurchase)
	var triggers []int64
	prev := *a
	for range 10 { // 1000 -> 0 in steps of 100: crosses once, at 400
		if _, err := a.Debit(100, Entry{}, t0); err != nil {
			t.Fatal(err)
		}
		if n, ok := RechargeDue(&prev, a); ok {
			triggers = append(triggers, n)
		}
		prev = *a
	}
	if len(triggers) != 1 || triggers[0] != 1 {
		t.Fatalf("triggers %v, want one for crossing 1", triggers)
	}
	if _, ok := RechargeDue(nil, &Account{}); ok {
		t.Error("a new account without a crossing triggered")
	}
}
