package billing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/metric"
)

// Store is what billing needs from storage. Every method that changes the
// balance writes the account and its ledger entries in one transaction.
type Store interface {
	// Account returns org's account (zero balance when it never had one).
	Account(ctx context.Context, org string) (*Account, error)
	// UpdateAccount changes org's account with fn, atomically, with the
	// ledger entries fn appended.
	UpdateAccount(ctx context.Context, org string, fn func(*Account) error) (*Account, error)
	// Ledger returns a page of org's ledger, newest first.
	Ledger(ctx context.Context, org, cursor string, limit int) ([]Entry, string, error)
	// PutPayment records a payment created at the provider (kept as it
	// is when recorded already) and changes the account with fn.
	PutPayment(ctx context.Context, p *PaymentRecord, fn func(*Account) error) error
	// ApplyPaymentEvent applies fn to the event's payment (fromEvent when
	// never recorded) and its org's account, once per event id.
	ApplyPaymentEvent(ctx context.Context, eventID string, fromEvent *PaymentRecord, fn func(*Account, *PaymentRecord) error) (bool, error)
	// LedgerBetween and BilledBetween read what usage sums over
	// [from, to): the ledger, and Meta's pricing reports of messages.
	LedgerBetween(ctx context.Context, org string, from, to time.Time, fn func([]Entry) error) error
	BilledBetween(ctx context.Context, org string, from, to time.Time, fn func([]Billed) error) error
}

// Numbers tells whether an org has an active WhatsApp number: credits are
// sold only then.
type Numbers interface {
	HasActiveNumber(ctx context.Context, org string) (bool, error)
}

// Payments is the payment provider (Stripe, or the local stand-in).
type Payments interface {
	// Pay creates and confirms a payment. A refusal by the card is not an
	// error: the result says failed and why, and the provider's event
	// follows, as for every outcome.
	Pay(ctx context.Context, req PayRequest) (PayResult, error)
}

// PayRequest is one payment to make.
type PayRequest struct {
	Org      string
	Kind     Kind // KindPurchase or KindRecharge
	Credits  Credits
	Crossing int64
	// CustomerID is the org's customer at the provider ("" creates one
	// when the card is to be saved).
	CustomerID    string
	PaymentMethod string // a payment method id, or a test card locally
	SaveCard      bool   // keep the card for off-session recharges
	OffSession    bool   // nobody is there to confirm (auto-recharge)
	// IdempotencyKey makes a retried request the same payment.
	IdempotencyKey string
}

// PayResult is the provider's first answer.
type PayResult struct {
	PaymentID    string
	Status       string // one of the Event* statuses
	Reason       string
	ClientSecret string // for the browser to finish a payment that needs it
	CustomerID   string
}

// Notifier tells an org's admins about billing (low balance, declined
// recharges). Optional: notices are always kept on the account and logged.
type Notifier interface {
	NotifyAdmins(ctx context.Context, org string, n Notice) error
}

// Service is billing's use cases, behind the API, the payment webhook and
// the change-stream consumer.
type Service struct {
	Store    Store
	Numbers  Numbers
	Payments Payments
	Rates    *RateCard
	Notifier Notifier
	Log      *slog.Logger
	Now      func() time.Time
}

// Summary is GET /v1/billing.
type Summary struct {
	Balance      Credits   `json:"balance"`
	Model        Model     `json:"model"`
	AutoRecharge Auto      `json:"autoRecharge"`
	Card         *CardView `json:"card,omitempty"`
	LastPayment  *Payment  `json:"lastPayment,omitempty"`
	Notices      []Notice  `json:"notices"`
	RateCard     string    `json:"rateCard"`
	SampleRates  bool      `json:"sampleRates,omitempty"`
}

// CardView is a saved card as the API shows it.
type CardView struct {
	Brand string `json:"brand,omitempty"`
	Last4 string `json:"last4,omitempty"`
}

func (s *Service) summary(a *Account) Summary {
	out := Summary{Balance: a.Balance, Model: a.ModelOrDefault(), AutoRecharge: a.Auto, LastPayment: a.Last,
		Notices: a.Notices, RateCard: s.Rates.Version, SampleRates: s.Rates.Sample}
	if out.Notices == nil {
		out.Notices = []Notice{}
	}
	if a.Card != nil {
		out.Card = &CardView{Brand: a.Card.Brand, Last4: a.Card.Last4}
	}
	return out
}

// Summary returns the org's balance and settings; every user of the org
// may read it (replies spend the credits).
func (s *Service) Summary(ctx context.Context, p auth.Principal) (Summary, error) {
	a, err := s.Store.Account(ctx, p.Org)
	if err != nil {
		return Summary{}, err
	}
	return s.summary(a), nil
}

func admin(p auth.Principal, what string) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can %s.", what)
	}
	return nil
}

// SetModel changes the org's pricing model (admin only).
func (s *Service) SetModel(ctx context.Context, p auth.Principal, m Model) (Summary, error) {
	if err := admin(p, "change billing settings"); err != nil {
		return Summary{}, err
	}
	if !m.Valid() {
		return Summary{}, apperr.E(apperr.Invalid, "model must be %q or %q.", PerConversation, PerMessage)
	}
	a, err := s.Store.UpdateAccount(ctx, p.Org, func(a *Account) error { a.Model = m; return nil })
	if err != nil {
		return Summary{}, err
	}
	return s.summary(a), nil
}

// SetAutoRecharge changes the auto-recharge settings (admin only; turning
// it on needs a saved card).
func (s *Service) SetAutoRecharge(ctx context.Context, p auth.Principal, enabled bool, minimum, amount Credits) (Summary, error) {
	if err := admin(p, "change auto-recharge"); err != nil {
		return Summary{}, err
	}
	a, err := s.Store.UpdateAccount(ctx, p.Org, func(a *Account) error { return a.SetAuto(enabled, minimum, amount) })
	if err != nil {
		return Summary{}, err
	}
	return s.summary(a), nil
}

// Ledger returns a page of the ledger, newest first (admin only).
func (s *Service) Ledger(ctx context.Context, p auth.Principal, cursor string, limit int) ([]Entry, string, error) {
	if err := admin(p, "read the ledger"); err != nil {
		return nil, "", err
	}
	return s.Store.Ledger(ctx, p.Org, cursor, limit)
}

// RateCard returns the card in force (admin only).
func (s *Service) RateCard(p auth.Principal) (*RateCard, error) {
	if err := admin(p, "read the rate card"); err != nil {
		return nil, err
	}
	return s.Rates, nil
}

// PurchaseRequest is POST /v1/billing/purchases.
type PurchaseRequest struct {
	Credits       Credits `json:"credits"`
	PaymentMethod string  `json:"paymentMethod"`
	SaveCard      bool    `json:"saveCard,omitempty"`
}

// Purchase is a purchase as the API answers it: the credits arrive when
// the provider confirms the payment.
type Purchase struct {
	PaymentID    string  `json:"paymentId"`
	Status       string  `json:"status"`
	Credits      Credits `json:"credits"`
	Reason       string  `json:"reason,omitempty"`
	ClientSecret string  `json:"clientSecret,omitempty"`
}

// Purchase buys credits with a card (admin only, and only once the org has
// an active WhatsApp number). idemKey, when given, makes a retried request
// the same payment.
func (s *Service) Purchase(ctx context.Context, p auth.Principal, req PurchaseRequest, idemKey string) (Purchase, error) {
	if err := admin(p, "buy credits"); err != nil {
		return Purchase{}, err
	}
	if err := CheckPurchase(req.Credits); err != nil {
		return Purchase{}, err
	}
	if req.PaymentMethod == "" {
		return Purchase{}, apperr.E(apperr.Invalid, "paymentMethod is required (a payment method id from the card form).")
	}
	active, err := s.Numbers.HasActiveNumber(ctx, p.Org)
	if err != nil {
		return Purchase{}, err
	}
	if !active {
		return Purchase{}, apperr.E(apperr.NoActiveNumber, "Credits can be bought once the org has an active WhatsApp number; connect or activate one under Integrations.")
	}
	if s.Payments == nil {
		return Purchase{}, apperr.E(apperr.Internal, "no payment provider configured")
	}
	a, err := s.Store.Account(ctx, p.Org)
	if err != nil {
		return Purchase{}, err
	}
	key := ""
	if idemKey != "" {
		key = "purchase:" + p.Org + ":" + p.UserID + ":" + idemKey
	}
	res, err := s.Payments.Pay(ctx, PayRequest{Org: p.Org, Kind: KindPurchase, Credits: req.Credits, CustomerID: a.CustomerID,
		PaymentMethod: req.PaymentMethod, SaveCard: req.SaveCard, IdempotencyKey: key})
	if err != nil {
		return Purchase{}, fmt.Errorf("create payment: %w", err)
	}
	now := s.now()
	rec := &PaymentRecord{ID: res.PaymentID, Org: p.Org, Kind: KindPurchase, Credits: req.Credits, SaveCard: req.SaveCard,
		Status: PaymentPending, CreatedBy: p.UserID, CreatedAt: now}
	err = s.Store.PutPayment(ctx, rec, func(a *Account) error {
		if res.CustomerID != "" && a.CustomerID == "" {
			a.CustomerID = res.CustomerID
		}
		return nil
	})
	if err != nil {
		return Purchase{}, fmt.Errorf("record payment %s: %w", res.PaymentID, err)
	}
	s.log().InfoContext(ctx, "purchase created", "org", p.Org, "payment", res.PaymentID, "status", res.Status, "credits", req.Credits)
	out := Purchase{PaymentID: res.PaymentID, Status: res.Status, Credits: req.Credits, Reason: res.Reason, ClientSecret: res.ClientSecret}
	if res.Status == EventFailed {
		return out, &apperr.Error{Code: apperr.PaymentFailed, Message: "The card was declined: " + res.Reason,
			Details: map[string]any{"paymentId": res.PaymentID}}
	}
	return out, nil
}

// ApplyEvent applies the provider's signed word about a payment, once per
// event: credits on success (once per payment), the outcome on the
// account, and a declined recharge counted. applied is false for an event
// seen before.
func (s *Service) ApplyEvent(ctx context.Context, ev PaymentEvent) (applied bool, err error) {
	if ev.EventID == "" || ev.PaymentID == "" || ev.Org == "" {
		return false, fmt.Errorf("payment event %q for payment %q: missing id or org", ev.EventID, ev.PaymentID)
	}
	now := s.now()
	var notices []Notice
	var credited *Entry
	applied, err = s.Store.ApplyPaymentEvent(ctx, ev.EventID, RecordFrom(ev), func(a *Account, p *PaymentRecord) error {
		out, err := ApplyPayment(a, p, ev, now)
		notices, credited = a.NewNotices(), out.Credited
		return err
	})
	if err != nil {
		return false, fmt.Errorf("apply payment event %s: %w", ev.EventID, err)
	}
	if applied {
		s.log().InfoContext(ctx, "payment event applied", "org", ev.Org, "event", ev.EventID, "payment", ev.PaymentID,
			"status", ev.Status, "credited", credited != nil)
		s.tell(ctx, ev.Org, notices)
	}
	return applied, nil
}

// noticeMetrics counts each kind of notice (an alarm watches declines).
var noticeMetrics = map[string]metric.Name{
	NoticeLowBalance:       metric.BillingLowBalance,
	NoticeRechargeDeclined: metric.BillingRechargeDeclined,
	NoticeRechargeOff:      metric.BillingAutoRechargeOff,
}

// tell passes notices on to the admins: always logged, and sent through the
// Notifier when there is one.
func (s *Service) tell(ctx context.Context, org string, notices []Notice) {
	for _, n := range notices {
		s.log().WarnContext(ctx, "billing notice", "org", org, "kind", n.Kind, "text", n.Text, noticeMetrics[n.Kind].Attr())
		if s.Notifier != nil {
			if err := s.Notifier.NotifyAdmins(ctx, org, n); err != nil {
				s.log().ErrorContext(ctx, "notify admins", "org", org, "kind", n.Kind, "err", err)
			}
		}
	}
}

// Recharge makes the recharge due for crossing n of org, off-session with
// the saved card. It is idempotent: a crossing handled already, or a
// repeated call for the same attempt, makes no second payment (the
// provider's idempotency key is derived from the crossing and attempt).
// The credits come with the provider's event, as for a purchase.
func (s *Service) Recharge(ctx context.Context, org string, n int64) error {
	a, err := s.Store.Account(ctx, org)
	if err != nil {
		return err
	}
	if a.Auto.Due != n || n == 0 || a.Card == nil {
		return nil // handled already, or turned off meanwhile
	}
	if s.Payments == nil {
		return fmt.Errorf("recharge %s/%d: no payment provider configured", org, n)
	}
	key := fmt.Sprintf("recharge:%s:%d:%d", org, n, a.Auto.Failures)
	res, err := s.Payments.Pay(ctx, PayRequest{Org: org, Kind: KindRecharge, Credits: a.Auto.Amount, Crossing: n,
		CustomerID: a.CustomerID, PaymentMethod: a.Card.PaymentMethodID, OffSession: true, IdempotencyKey: key})
	if err != nil {
		return fmt.Errorf("recharge %s/%d: %w", org, n, err)
	}
	rec := &PaymentRecord{ID: res.PaymentID, Org: org, Kind: KindRecharge, Credits: a.Auto.Amount, Crossing: n,
		Status: PaymentPending, CreatedAt: s.now()}
	if err := s.Store.PutPayment(ctx, rec, func(*Account) error { return nil }); err != nil {
		return fmt.Errorf("record recharge %s: %w", res.PaymentID, err)
	}
	s.log().InfoContext(ctx, "recharge created", "org", org, "crossing", n, "payment", res.PaymentID, "status", res.Status)
	return nil
}

// Quote is the price of the next reply in a conversation with customer
// waID, paid until paidUntil.
func (s *Service) Quote(ctx context.Context, org, waID string, paidUntil *time.Time) (Quote, error) {
	a, err := s.Store.Account(ctx, org)
	if err != nil {
		return Quote{}, err
	}
	var until time.Time
	if paidUntil != nil {
		until = *paidUntil
	}
	return s.Rates.Price(a.ModelOrDefault(), waID, CategoryService, until, s.now())
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
