// Package localpay is the payment provider of the local stack: it plays
// Stripe's test cards and posts the same signed events Stripe would
// (payment_intent.succeeded, payment_intent.payment_failed), signed with
// stripe-go's webhook helpers, to the same webhook handler. So `make run`
// runs the real credit path, verification included, without an account.
package localpay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/metric"
)

// Test cards, by payment method id or card number, as Stripe names them.
var cards = map[string]card{
	"pm_card_visa":                            {brand: "visa", last4: "4242"},
	"4242424242424242":                        {brand: "visa", last4: "4242"},
	"pm_card_mastercard":                      {brand: "mastercard", last4: "4444"},
	"5555555555554444":                        {brand: "mastercard", last4: "4444"},
	"pm_card_chargeDeclined":                  {brand: "visa", last4: "0002", decline: "generic_decline"},
	"4000000000000002":                        {brand: "visa", last4: "0002", decline: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {brand: "visa", last4: "9995", decline: "insufficient_funds"},
	"4000000000009995":                        {brand: "visa", last4: "9995", decline: "insufficient_funds"},
	// A processing error: declined this time, worth retrying.
	"pm_card_chargeDeclinedProcessingError": {brand: "visa", last4: "0119", decline: "processing_error"},
	"4000000000000119":                      {brand: "visa", last4: "0119", decline: "processing_error"},
}

type card struct {
	brand, last4 string
	decline      string // "" succeeds
}

// Provider implements billing.Payments locally.
type Provider struct {
	// WebhookURL receives the signed events (the local stack's
	// /billing/stripe/webhook).
	WebhookURL string
	// Secret signs the events, as Stripe's endpoint secret does.
	Secret string
	Client *http.Client
	Log    *slog.Logger

	mu        sync.Mutex
	byKey     map[string]billing.PayResult // idempotency keys, as Stripe keeps them
	customers map[string]string            // org -> customer id
	wg        sync.WaitGroup
}

// Pay implements billing.Payments. The outcome follows the test card; the
// event is posted a moment later, like Stripe's, and retried until the
// webhook takes it.
func (p *Provider) Pay(ctx context.Context, req billing.PayRequest) (billing.PayResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byKey == nil {
		p.byKey, p.customers = map[string]billing.PayResult{}, map[string]string{}
	}
	if req.IdempotencyKey != "" {
		if res, ok := p.byKey[req.IdempotencyKey]; ok {
			return res, nil
		}
	}
	c, ok := cards[req.PaymentMethod]
	if !ok {
		return billing.PayResult{}, fmt.Errorf("local payments: unknown test card %q (use pm_card_visa, pm_card_chargeDeclined, pm_card_chargeDeclinedProcessingError or their numbers)", req.PaymentMethod)
	}
	res := billing.PayResult{PaymentID: ids.New("pi"), CustomerID: req.CustomerID, Status: billing.EventSucceeded}
	if res.CustomerID == "" && (req.SaveCard || req.OffSession) {
		if res.CustomerID = p.customers[req.Org]; res.CustomerID == "" {
			res.CustomerID = ids.New("cus")
			p.customers[req.Org] = res.CustomerID
		}
	}
	res.ClientSecret = res.PaymentID + "_secret_local"
	if c.decline != "" {
		res.Status, res.Reason, res.ClientSecret = billing.EventFailed, c.decline, ""
	}
	if req.IdempotencyKey != "" {
		p.byKey[req.IdempotencyKey] = res
	}
	body, err := eventBody(req, res, c, time.Now())
	if err != nil {
		return billing.PayResult{}, err
	}
	p.wg.Add(1)
	go p.post(body)
	return res, nil
}

// Wait blocks until every event posted so far was delivered or given up.
func (p *Provider) Wait() { p.wg.Wait() }

// eventBody renders the event Stripe would send for this payment.
func eventBody(req billing.PayRequest, res billing.PayResult, c card, now time.Time) ([]byte, error) {
	typ, status := stripe.EventTypePaymentIntentSucceeded, stripe.PaymentIntentStatusSucceeded
	pi := map[string]any{
		"id": res.PaymentID, "object": "payment_intent", "amount": req.Credits.Cents(), "currency": "usd",
		"created": now.Unix(), "livemode": false,
		"payment_method": map[string]any{"id": req.PaymentMethod, "object": "payment_method", "type": "card",
			"card": map[string]any{"brand": c.brand, "last4": c.last4}},
		"metadata": map[string]string{
			"wacrm_org": req.Org, "wacrm_kind": string(req.Kind), "wacrm_credits": strconv.FormatInt(int64(req.Credits), 10),
			"wacrm_crossing": strconv.FormatInt(req.Crossing, 10), "wacrm_save_card": strconv.FormatBool(req.SaveCard),
		},
	}
	if res.CustomerID != "" {
		pi["customer"] = res.CustomerID
	}
	if c.decline != "" {
		typ, status = stripe.EventTypePaymentIntentPaymentFailed, stripe.PaymentIntentStatusRequiresPaymentMethod
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": c.decline,
			"message": "Your card was declined."}
	}
	pi["status"] = status
	raw, err := json.Marshal(pi)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": ids.New("evt"), "object": "event", "type": typ, "created": now.Unix(),
		"api_version": stripe.APIVersion, "livemode": false, "data": map[string]any{"object": json.RawMessage(raw)}})
}

// post delivers one event, retrying like Stripe (a few times here, with
// backoff) until the webhook answers 2xx. Each attempt is signed afresh.
func (p *Provider) post(body []byte) {
	defer p.wg.Done()
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	delay := 50 * time.Millisecond
	for attempt := 1; attempt <= 8; attempt++ {
		time.Sleep(delay)
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: p.Secret})
		req, _ := http.NewRequest(http.MethodPost, p.WebhookURL, bytes.NewReader(signed.Payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", signed.Header)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		p.log().Warn("local payments: event not taken; retrying", "attempt", attempt, "err", err)
		delay *= 2
	}
	p.log().Error("local payments: event given up", metric.PaymentEventUndelivered.Attr())
}

func (p *Provider) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
