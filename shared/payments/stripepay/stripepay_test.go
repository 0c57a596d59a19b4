package stripepay_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/payments/stripepay"
)

func mockURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("WACRM_TEST_STRIPE_URL")
	if u == "" {
		if os.Getenv("WACRM_REQUIRE_SERVERS") == "1" {
			t.Fatal("WACRM_TEST_STRIPE_URL is not set (run through scripts/testenv/run.sh)")
		}
		t.Skip("WACRM_TEST_STRIPE_URL not set; run through scripts/testenv/run.sh (make test)")
	}
	return u
}

// Against stripe-mock, which checks every request against Stripe's OpenAPI
// spec: a purchase that saves the card creates the customer first, an
// off-session recharge reuses it.
func TestPayAgainstStripeMock(t *testing.T) {
	p := stripepay.New(stripepay.NewClient("sk_test_123", mockURL(t), nil))
	ctx := context.Background()
	res, err := p.Pay(ctx, billing.PayRequest{Org: "acme", Kind: billing.KindPurchase, Credits: 100_000,
		PaymentMethod: "pm_card_visa", SaveCard: true, IdempotencyKey: "purchase:acme:u1:k1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.PaymentID, "pi_") || !strings.HasPrefix(res.CustomerID, "cus_") || res.Status == "" {
		t.Fatalf("purchase result %+v", res)
	}
	again, err := p.Pay(ctx, billing.PayRequest{Org: "acme", Kind: billing.KindRecharge, Credits: 50_000, Crossing: 3,
		CustomerID: res.CustomerID, PaymentMethod: "pm_card_visa", OffSession: true, IdempotencyKey: "recharge:acme:3:0"})
	if err != nil {
		t.Fatal(err)
	}
	if again.CustomerID != res.CustomerID || again.PaymentID == "" {
		t.Fatalf("recharge result %+v", again)
	}
}

const secret = "whsec_test_secret"

func signed(t *testing.T, typ stripe.EventType, pi map[string]any, at time.Time) ([]byte, string) {
	t.Helper()
	raw, _ := json.Marshal(pi)
	body, _ := json.Marshal(map[string]any{"id": "evt_1", "object": "event", "type": typ, "created": at.Unix(),
		"api_version": stripe.APIVersion, "data": map[string]any{"object": json.RawMessage(raw)}})
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return sp.Payload, sp.Header
}

func intent(meta map[string]string) map[string]any {
	return map[string]any{"id": "pi_1", "object": "payment_intent", "amount": 1000, "currency": "usd", "status": "succeeded",
		"customer": "cus_1", "payment_method": map[string]any{"id": "pm_1", "object": "payment_method", "card": map[string]any{"brand": "visa", "last4": "4242"}},
		"metadata": meta}
}

var goodMeta = map[string]string{"wacrm_org": "acme", "wacrm_kind": "purchase", "wacrm_credits": "100000", "wacrm_crossing": "0", "wacrm_save_card": "true"}

func TestParseSignedEvents(t *testing.T) {
	ev := stripepay.Events{Secret: secret}
	now := time.Now()

	body, header := signed(t, stripe.EventTypePaymentIntentSucceeded, intent(goodMeta), now)
	got, err := ev.Parse(body, header)
	if err != nil {
		t.Fatal(err)
	}
	want := billing.PaymentEvent{EventID: "evt_1", PaymentID: "pi_1", Status: billing.EventSucceeded, AmountCents: 1000,
		Org: "acme", Kind: billing.KindPurchase, Credits: 100_000, SaveCard: true, CustomerID: "cus_1",
		Card: &billing.Card{PaymentMethodID: "pm_1", Brand: "visa", Last4: "4242"}, At: time.Unix(now.Unix(), 0).UTC()}
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("parsed\n got %s\nwant %s", g, w)
	}

	mk := func(typ stripe.EventType, pi map[string]any, want error) tcase {
		b, h := signed(t, typ, pi, now)
		return tcase{string(b), h, want}
	}
	resign := func(secret string, at time.Time) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
	}
	cases := map[string]tcase{
		"tampered body": {strings.Replace(string(body), "100000", "900000", 1), header, billing.ErrBadSignature},
		"wrong secret":  {string(body), resign("whsec_other", now), billing.ErrBadSignature},
		"no header":     {string(body), "", billing.ErrBadSignature},
		"too old":       {string(body), resign(secret, now.Add(-time.Hour)), billing.ErrBadSignature},
		"other event":   mk(stripe.EventTypeCustomerCreated, intent(goodMeta), billing.ErrIgnoredEvent),
		"not wacrm's":   mk(stripe.EventTypePaymentIntentSucceeded, intent(map[string]string{}), billing.ErrIgnoredEvent),
		"bad metadata":  mk(stripe.EventTypePaymentIntentSucceeded, intent(map[string]string{"wacrm_org": "acme", "wacrm_kind": "gift", "wacrm_credits": "x"}), nil),
	}
	for name, c := range cases {
		_, err := ev.Parse([]byte(c.body), c.header)
		switch {
		case err == nil:
			t.Errorf("%s: accepted", name)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", name, err, c.want)
		case c.want == nil && (errors.Is(err, billing.ErrBadSignature) || errors.Is(err, billing.ErrIgnoredEvent)):
			t.Errorf("%s: %v, want an unreadable-event error", name, err)
		}
	}
}

type tcase struct {
	body, header string
	want         error // nil: a signed event wacrm cannot read
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
