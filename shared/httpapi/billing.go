package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/metric"
)

// BillingService is credits, prices and purchases (billing.Service). Its
// admin-only methods answer apperr.Forbidden to other users.
type BillingService interface {
	Summary(ctx context.Context, p auth.Principal) (billing.Summary, error)
	SetModel(ctx context.Context, p auth.Principal, m billing.Model) (billing.Summary, error)
	SetAutoRecharge(ctx context.Context, p auth.Principal, enabled bool, minimum, amount billing.Credits) (billing.Summary, error)
	Ledger(ctx context.Context, p auth.Principal, cursor string, limit int) ([]billing.Entry, string, error)
	RateCard(p auth.Principal) (*billing.RateCard, error)
	Usage(ctx context.Context, p auth.Principal, from, to time.Time) ([]billing.UsageRow, error)
	Purchase(ctx context.Context, p auth.Principal, req billing.PurchaseRequest, idemKey string) (billing.Purchase, error)
	Quote(ctx context.Context, org, waID string, paidUntil *time.Time) (billing.Quote, error)
}

// maxBillingBody bounds a billing request.
const maxBillingBody = 4 << 10

func (a *API) getBilling(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	s, err := a.Billing.Summary(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type billingPatch struct {
	Model billing.Model `json:"model"`
}

func (a *API) patchBilling(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can change billing settings.")
	}
	var body billingPatch
	if err := decodeJSON(w, r, maxBillingBody, &body); err != nil {
		return err
	}
	s, err := a.Billing.SetModel(r.Context(), p, body.Model)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type autoRechargeBody struct {
	Enabled bool            `json:"enabled"`
	Minimum billing.Credits `json:"minimum"`
	Amount  billing.Credits `json:"amount"`
}

func (a *API) putAutoRecharge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can change auto-recharge.")
	}
	var body autoRechargeBody
	if err := decodeJSON(w, r, maxBillingBody, &body); err != nil {
		return err
	}
	s, err := a.Billing.SetAutoRecharge(r.Context(), p, body.Enabled, body.Minimum, body.Amount)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) listLedger(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := limitParam(r, 50, 200)
	if err != nil {
		return err
	}
	items, cursor, err := a.Billing.Ledger(r.Context(), p, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(items, cursor))
	return nil
}

type rateCardView struct {
	Version   string             `json:"version"`
	Sample    bool               `json:"sample"`
	Notice    string             `json:"notice,omitempty"`
	Effective string             `json:"effective"`
	Currency  string             `json:"currency"`
	MarkupBps int64              `json:"markupBps"`
	Markets   []billing.RateView `json:"markets"`
}

func (a *API) getRates(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Billing.RateCard(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rateCardView{Version: c.Version, Sample: c.Sample, Notice: c.Notice, Effective: c.Effective,
		Currency: c.Currency, MarkupBps: c.MarkupBps, Markets: c.Views()})
	return nil
}

// usageParam reads a day (YYYY-MM-DD, UTC) or an RFC 3339 time.
func usageParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, apperr.E(apperr.Invalid, "%s is required (YYYY-MM-DD or an RFC 3339 time).", name)
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, apperr.E(apperr.Invalid, "%s must be YYYY-MM-DD or an RFC 3339 time.", name)
	}
	return t, nil
}

func (a *API) getUsage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can read usage.")
	}
	from, err := usageParam(r, "from")
	if err != nil {
		return err
	}
	to, err := usageParam(r, "to")
	if err != nil {
		return err
	}
	rows, err := a.Billing.Usage(r.Context(), p, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(rows, ""))
	return nil
}

func (a *API) createPurchase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() { // before reading a body only admins may send
		return apperr.E(apperr.Forbidden, "Only admins can buy credits.")
	}
	var body billing.PurchaseRequest
	if err := decodeJSON(w, r, maxBillingBody, &body); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return apperr.E(apperr.Invalid, "The Idempotency-Key is longer than 255 characters.")
	}
	out, err := a.Billing.Purchase(r.Context(), p, body, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// nextReply quotes the next reply in conv; nil without billing.
func (a *API) nextReply(ctx context.Context, conv *inbox.Conversation) (*billing.Quote, error) {
	if a.Billing == nil {
		return nil, nil
	}
	q, err := a.Billing.Quote(ctx, conv.Org, conv.Customer.WaID, conv.PaidUntil)
	if err != nil {
		return nil, err
	}
	return &q, nil
}

// PaymentEvents verifies and reads a payment provider's webhook
// (stripepay.Events).
type PaymentEvents interface {
	// Parse checks signature over the raw body. Errors: one matching
	// billing.ErrBadSignature, one matching billing.ErrIgnoredEvent, or
	// another for a signed event that cannot be read.
	Parse(body []byte, signature string) (billing.PaymentEvent, error)
}

// PaymentApplier applies a verified payment event (billing.Service).
type PaymentApplier interface {
	ApplyEvent(ctx context.Context, ev billing.PaymentEvent) (bool, error)
}

// PaymentWebhook is POST /billing/stripe/webhook: the provider's signed
// events, verified over the raw body, applied once by event id.
type PaymentWebhook struct {
	Events     PaymentEvents
	Billing    PaymentApplier
	Quarantine *Quarantine
	Log        *slog.Logger
}

// MaxPaymentEventBytes bounds a provider event (Stripe's are a few KB).
const MaxPaymentEventBytes = 512 << 10

func (h *PaymentWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPaymentEventBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read body", http.StatusBadRequest)
		return
	}
	ev, err := h.Events.Parse(body, r.Header.Get("Stripe-Signature"))
	switch {
	case errors.Is(err, billing.ErrBadSignature):
		h.Log.WarnContext(ctx, "payment webhook signature refused", "err", err, "bytes", len(body), metric.PaymentSignatureRefused.Attr())
		http.Error(w, "invalid signature", http.StatusBadRequest)
		return
	case errors.Is(err, billing.ErrIgnoredEvent):
		h.Log.InfoContext(ctx, "payment webhook event ignored", "reason", err.Error())
		w.WriteHeader(http.StatusOK)
		return
	case err != nil:
		// Signed by the provider yet unreadable: a retry cannot help. Keep
		// a copy and count it, then acknowledge.
		key, qerr := h.Quarantine.Keep(ctx, body, "signed payment event cannot be read: "+err.Error(), nil)
		if qerr != nil {
			h.Log.ErrorContext(ctx, "quarantine payment event", "err", qerr)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		h.Log.ErrorContext(ctx, "unreadable payment event kept", "key", key, "err", err, metric.PaymentEventUnreadable.Attr())
		w.WriteHeader(http.StatusOK)
		return
	}
	applied, err := h.Billing.ApplyEvent(ctx, ev)
	if err != nil {
		// The provider retries on non-2xx: nothing is lost.
		h.Log.ErrorContext(ctx, "apply payment event", "event", ev.EventID, "err", err)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true,"applied":`+strconv.FormatBool(applied)+`}`)
}
