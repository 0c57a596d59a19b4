package billing

import (
	"errors"
	"fmt"
	"time"
)

// PaymentRecord is a payment wacrm asked the provider for: a purchase by an
// admin or a recharge of a crossing. Credits are added once, when the
// provider confirms it, never on the browser's word.
type PaymentRecord struct {
	ID        string    `json:"id"` // the provider's id (a PaymentIntent)
	Org       string    `json:"org"`
	Kind      Kind      `json:"kind"` // KindPurchase or KindRecharge
	Credits   Credits   `json:"credits"`
	Crossing  int64     `json:"crossing,omitempty"` // the recharge's crossing
	SaveCard  bool      `json:"saveCard,omitempty"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"createdBy,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Credited  bool      `json:"credited,omitempty"`
	Seq       int64     `json:"seq,omitempty"` // its ledger entry
}

// Provider statuses of a payment, as events report them.
const (
	EventSucceeded      = "succeeded"
	EventFailed         = "failed"
	EventProcessing     = "processing"
	EventRequiresAction = "requires_action"
)

// PaymentEvent is the provider's signed word about a payment. The
// metadata fields (Org, Kind, Credits, Crossing) are the ones wacrm set
// when it created the payment.
type PaymentEvent struct {
	EventID     string
	PaymentID   string
	Status      string
	AmountCents int64
	Org         string
	Kind        Kind
	Credits     Credits
	Crossing    int64
	SaveCard    bool
	Reason      string // why it failed, in the provider's words
	CustomerID  string
	Card        *Card // the payment method, when the provider says it
	At          time.Time
}

// RecordFrom is the payment record of an event whose payment was never
// recorded (the request that created it stopped before recording it).
func RecordFrom(ev PaymentEvent) *PaymentRecord {
	return &PaymentRecord{ID: ev.PaymentID, Org: ev.Org, Kind: ev.Kind, Credits: ev.Credits,
		Crossing: ev.Crossing, SaveCard: ev.SaveCard, Status: PaymentPending, CreatedAt: ev.At}
}

// Errors of reading a provider's webhook (see the payments adapters).
var (
	// ErrBadSignature: the body's signature does not verify; refuse it.
	ErrBadSignature = errors.New("payment event signature invalid")
	// ErrIgnoredEvent: a genuine event that is not about a wacrm payment
	// (another type, or a payment wacrm did not create); acknowledge it.
	ErrIgnoredEvent = errors.New("payment event not about a wacrm payment")
)

// Outcome is what applying a payment event did.
type Outcome struct {
	Credited *Entry
}

// ApplyPayment folds a provider event into the account and the payment
// record. A payment is credited at most once, whatever the events say and
// however often; the amount is the recorded one, and an event whose amount
// disagrees with it credits nothing.
func ApplyPayment(a *Account, p *PaymentRecord, ev PaymentEvent, now time.Time) (Outcome, error) {
	var out Outcome
	if p.Org != a.Org || ev.Org != "" && ev.Org != p.Org {
		return out, fmt.Errorf("payment %s belongs to org %q, event says %q, account is %q", p.ID, p.Org, ev.Org, a.Org)
	}
	if ev.AmountCents != 0 && ev.AmountCents != p.Credits.Cents() {
		return out, fmt.Errorf("payment %s: event amount %d cents, recorded %d credits", p.ID, ev.AmountCents, p.Credits)
	}
	if ev.CustomerID != "" && a.CustomerID == "" {
		a.CustomerID = ev.CustomerID
	}
	last := &Payment{ID: p.ID, Kind: p.Kind, Credits: p.Credits, At: now}
	switch ev.Status {
	case EventSucceeded:
		if p.Credited {
			return out, nil
		}
		reason := "Credits bought"
		if p.Kind == KindRecharge {
			reason = fmt.Sprintf("Auto-recharge (crossing %d)", p.Crossing)
		}
		e, err := a.Credit(p.Kind, p.Credits, Entry{PaymentID: p.ID, Reason: reason, UserID: p.CreatedBy}, now)
		if err != nil {
			return out, err
		}
		p.Credited, p.Seq, p.Status, p.Reason = true, e.Seq, PaymentSucceeded, ""
		out.Credited = &e
		if p.Kind == KindRecharge {
			a.RechargeSucceeded(p.Crossing)
		}
		if ev.Card != nil && (p.SaveCard || p.Kind == KindRecharge) {
			a.Card = ev.Card
		}
		last.Status = PaymentSucceeded
	case EventFailed:
		if p.Credited || p.Status == PaymentFailed {
			return out, nil
		}
		p.Status, p.Reason = PaymentFailed, ev.Reason
		last.Status, last.Reason = PaymentFailed, ev.Reason
		if p.Kind == KindRecharge {
			a.RechargeDeclined(p.Crossing, ev.Reason, now)
		}
	default: // processing, requires_action: still open
		if p.Credited || p.Status == PaymentFailed {
			return out, nil
		}
		p.Status = PaymentPending
		last.Status, last.Reason = PaymentPending, ev.Status
	}
	a.Last = last
	return out, nil
}

// Refund gives back a failed reply's charge, once: it returns the entry,
// or nil when there was nothing to refund (free, or refunded already).
func Refund(a *Account, c *Charge, e Entry, now time.Time) (*Entry, error) {
	if c == nil || c.Credits == 0 || c.Refunded {
		return nil, nil
	}
	e.Market, e.Category, e.Model = c.Market, c.Category, c.Model
	out, err := a.Credit(KindRefund, c.Credits, e, now)
	if err != nil {
		return nil, err
	}
	c.Refunded, c.RefundSeq = true, out.Seq
	return &out, nil
}
