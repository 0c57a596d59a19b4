// Package stripepay is the payment provider on Stripe, through the official
// stripe-go: PaymentIntents for purchases and off-session recharges, and
// the signed webhook events that confirm them, verified over the raw body
// with stripe-go's webhook package.
package stripepay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/wacrm/wacrm/shared/billing"
)

// Currency of every payment; the rate card is in the same currency.
const Currency = "usd"

// NewClient returns a stripe-go client for key. baseURL "" is Stripe's
// API; tests pass stripe-mock's address.
func NewClient(key, baseURL string, httpClient *http.Client) *stripe.Client {
	cfg := &stripe.BackendConfig{HTTPClient: httpClient, LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}}
	if baseURL != "" {
		cfg.URL = stripe.String(baseURL)
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// Provider implements billing.Payments on Stripe.
type Provider struct {
	client *stripe.Client
}

// New returns the provider on client.
func New(client *stripe.Client) *Provider { return &Provider{client: client} }

// Metadata keys wacrm sets on every PaymentIntent; events carry them back.
const (
	metaOrg      = "wacrm_org"
	metaKind     = "wacrm_kind"
	metaCredits  = "wacrm_credits"
	metaCrossing = "wacrm_crossing"
	metaSaveCard = "wacrm_save_card"
)

// Pay implements billing.Payments: a customer is created for the org when
// a card is to be saved, then a PaymentIntent confirmed at once. A decline
// is a result (failed, with the decline code), not an error.
func (p *Provider) Pay(ctx context.Context, req billing.PayRequest) (billing.PayResult, error) {
	out := billing.PayResult{CustomerID: req.CustomerID}
	if out.CustomerID == "" && (req.SaveCard || req.OffSession) {
		params := &stripe.CustomerCreateParams{Metadata: map[string]string{metaOrg: req.Org}}
		params.SetIdempotencyKey("customer:" + req.Org)
		c, err := p.client.V1Customers.Create(ctx, params)
		if err != nil {
			return out, fmt.Errorf("create stripe customer for %s: %w", req.Org, err)
		}
		out.CustomerID = c.ID
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(req.Credits.Cents()),
		Currency:           stripe.String(Currency),
		PaymentMethod:      stripe.String(req.PaymentMethod),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Confirm:            stripe.Bool(true),
		Description:        stripe.String(fmt.Sprintf("wacrm %s: %d credits", req.Kind, req.Credits)),
		Metadata: map[string]string{
			metaOrg: req.Org, metaKind: string(req.Kind),
			metaCredits: strconv.FormatInt(int64(req.Credits), 10), metaCrossing: strconv.FormatInt(req.Crossing, 10),
			metaSaveCard: strconv.FormatBool(req.SaveCard),
		},
	}
	if out.CustomerID != "" {
		params.Customer = stripe.String(out.CustomerID)
	}
	if req.SaveCard {
		params.SetupFutureUsage = stripe.String(string(stripe.PaymentIntentSetupFutureUsageOffSession))
	}
	if req.OffSession {
		params.OffSession = stripe.Bool(true)
	}
	if req.IdempotencyKey != "" {
		params.SetIdempotencyKey(req.IdempotencyKey)
	}
	pi, err := p.client.V1PaymentIntents.Create(ctx, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard && se.PaymentIntent != nil {
		out.PaymentID, out.Status, out.Reason = se.PaymentIntent.ID, billing.EventFailed, declineReason(se.Code, se.DeclineCode, se.Msg)
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("create payment intent: %w", err)
	}
	out.PaymentID, out.Status, out.ClientSecret = pi.ID, statusOf(pi.Status), pi.ClientSecret
	if pi.LastPaymentError != nil && out.Status == billing.EventFailed {
		e := pi.LastPaymentError
		out.Reason = declineReason(e.Code, e.DeclineCode, e.Msg)
	}
	return out, nil
}

func statusOf(s stripe.PaymentIntentStatus) string {
	switch s {
	case stripe.PaymentIntentStatusSucceeded:
		return billing.EventSucceeded
	case stripe.PaymentIntentStatusProcessing:
		return billing.EventProcessing
	case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusCanceled:
		return billing.EventFailed
	}
	return billing.EventRequiresAction
}

func declineReason(code stripe.ErrorCode, decline stripe.DeclineCode, msg string) string {
	switch {
	case decline != "":
		return string(decline)
	case code != "":
		return string(code)
	}
	return msg
}

// Events verifies and reads Stripe's webhook events.
type Events struct {
	Secret string // the endpoint's signing secret (whsec_...)
}

// Parse verifies the Stripe-Signature header over the raw body and reads
// a PaymentIntent event. Errors: billing.ErrBadSignature,
// billing.ErrIgnoredEvent, or another error for a signed event wacrm
// cannot read (keep a copy of it).
func (e Events) Parse(body []byte, signature string) (billing.PaymentEvent, error) {
	ev, err := webhook.ConstructEventWithOptions(body, signature, e.Secret,
		// Events are rendered in the account's API version; wacrm reads
		// only fields that every version since 2020 has.
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return billing.PaymentEvent{}, fmt.Errorf("%w: %v", billing.ErrBadSignature, err)
	}
	var status string
	switch ev.Type {
	case stripe.EventTypePaymentIntentSucceeded:
		status = billing.EventSucceeded
	case stripe.EventTypePaymentIntentPaymentFailed:
		status = billing.EventFailed
	case stripe.EventTypePaymentIntentProcessing:
		status = billing.EventProcessing
	case stripe.EventTypePaymentIntentRequiresAction:
		status = billing.EventRequiresAction
	default:
		return billing.PaymentEvent{}, fmt.Errorf("%w: type %s", billing.ErrIgnoredEvent, ev.Type)
	}
	if ev.Data == nil {
		return billing.PaymentEvent{}, fmt.Errorf("event %s: no data", ev.ID)
	}
	var pi stripe.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
		return billing.PaymentEvent{}, fmt.Errorf("event %s: read payment intent: %w", ev.ID, err)
	}
	org := pi.Metadata[metaOrg]
	if org == "" {
		return billing.PaymentEvent{}, fmt.Errorf("%w: payment %s has no %s", billing.ErrIgnoredEvent, pi.ID, metaOrg)
	}
	credits, err1 := strconv.ParseInt(pi.Metadata[metaCredits], 10, 64)
	crossing, err2 := strconv.ParseInt(pi.Metadata[metaCrossing], 10, 64)
	kind := billing.Kind(pi.Metadata[metaKind])
	if err := errors.Join(err1, err2); err != nil || (kind != billing.KindPurchase && kind != billing.KindRecharge) {
		return billing.PaymentEvent{}, fmt.Errorf("event %s: payment %s has unreadable metadata (kind %q): %v", ev.ID, pi.ID, kind, err)
	}
	out := billing.PaymentEvent{
		EventID: ev.ID, PaymentID: pi.ID, Status: status, AmountCents: pi.Amount,
		Org: org, Kind: kind, Credits: billing.Credits(credits), Crossing: crossing,
		SaveCard: pi.Metadata[metaSaveCard] == "true", At: time.Unix(ev.Created, 0).UTC(),
	}
	if pi.Customer != nil {
		out.CustomerID = pi.Customer.ID
	}
	if pm := pi.PaymentMethod; pm != nil && pm.ID != "" {
		out.Card = &billing.Card{PaymentMethodID: pm.ID}
		if pm.Card != nil {
			out.Card.Brand, out.Card.Last4 = string(pm.Card.Brand), pm.Card.Last4
		}
	}
	if e := pi.LastPaymentError; e != nil && status == billing.EventFailed {
		out.Reason = declineReason(e.Code, e.DeclineCode, e.Msg)
	}
	return out, nil
}
