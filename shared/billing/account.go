package billing

import (
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

// Model is how replies are priced.
type Model string

const (
	// PerConversation: a 24-hour conversation is charged when the first
	// reply opens it; replies inside it cost nothing (Meta's model until
	// 2025-07-01, and the default).
	PerConversation Model = "conversation"
	// PerMessage: every reply is charged (Meta's model since 2025-07-01).
	PerMessage Model = "message"
)

// Valid reports whether m is a known model.
func (m Model) Valid() bool { return m == PerConversation || m == PerMessage }

// ConversationLength is how long a paid conversation lasts.
const ConversationLength = 24 * time.Hour

// Account is an org's balance and billing settings. Its ledger holds Seq
// entries whose amounts sum to Balance.
type Account struct {
	Org     string    `json:"org"`
	Balance Credits   `json:"balance"`
	Seq     int64     `json:"seq"`             // entries in the ledger
	LastAt  time.Time `json:"lastAt,omitzero"` // time of the last entry
	Model   Model     `json:"model,omitempty"` // "" = PerConversation
	Card    *Card     `json:"card,omitempty"`  // saved for auto-recharge
	Auto    Auto      `json:"autoRecharge"`    // auto-recharge settings and state
	Last    *Payment  `json:"lastPayment,omitempty"`
	// CustomerID is the org's customer at the payment provider.
	CustomerID string `json:"customerId,omitempty"`

	// Notices are the latest messages for the admins (low balance, a
	// declined recharge), newest last.
	Notices []Notice `json:"notices,omitempty"`

	// entries appended since the account was read, for the store to
	// write in the same transaction as the account; fresh, the notices.
	entries []Entry
	fresh   []Notice
}

// Entries returns the ledger entries appended since the account was read.
func (a *Account) Entries() []Entry { return a.entries }

// Card is a saved payment method, shown by brand and last digits only.
type Card struct {
	PaymentMethodID string `json:"paymentMethodId"`
	Brand           string `json:"brand,omitempty"`
	Last4           string `json:"last4,omitempty"`
}

// Auto is auto-recharge: when a charge takes the balance below Minimum,
// Amount credits are bought with the saved card, once per crossing.
type Auto struct {
	Enabled bool    `json:"enabled"`
	Minimum Credits `json:"minimum"`
	Amount  Credits `json:"amount"`
	// Crossings counts the times the balance fell below the minimum; the
	// n-th crossing's payment has an idempotency key derived from n.
	Crossings int64 `json:"crossings,omitempty"`
	// Due is the crossing whose recharge is to be made, 0 when none. It is
	// set in the transaction of the debit that crossed, and the change
	// stream hands it to the recharger: exactly one trigger per crossing.
	Due int64 `json:"due,omitempty"`
	// Failures counts declined recharges of the current crossing.
	Failures int `json:"failures,omitempty"`
	// RetryAt is when a declined recharge may be tried again (by the next
	// charge after it), so a bad card never makes a storm of payments.
	RetryAt *time.Time `json:"retryAt,omitempty"`
	// DisabledReason says why auto-recharge turned itself off.
	DisabledReason string `json:"disabledReason,omitempty"`
}

// Payment is the outcome of the last payment, as admins see it.
type Payment struct {
	ID      string    `json:"id"`
	Kind    Kind      `json:"kind"` // purchase or recharge
	Status  string    `json:"status"`
	Credits Credits   `json:"credits"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason,omitempty"`
}

// Payment statuses.
const (
	PaymentPending   = "pending"
	PaymentSucceeded = "succeeded"
	PaymentFailed    = "failed"
)

// Recharge retry policy: a declined recharge is tried again after
// RetryDelays[i] (by the next charge after that time), and auto-recharge
// turns itself off after MaxRechargeFailures declines in a row.
var RetryDelays = []time.Duration{10 * time.Minute, time.Hour}

// MaxRechargeFailures is len(RetryDelays)+1: the first try and its retries.
var MaxRechargeFailures = len(RetryDelays) + 1

// ModelOrDefault is the account's pricing model.
func (a *Account) ModelOrDefault() Model {
	if a.Model == "" {
		return PerConversation
	}
	return a.Model
}

// append adds an entry of amount and returns it. Entry times never go
// backwards, so the ledger's time order is its sequence order.
func (a *Account) append(e Entry, now time.Time) Entry {
	a.Seq++
	a.Balance += e.Amount
	at := now.UTC()
	if !at.After(a.LastAt) {
		at = a.LastAt.Add(time.Microsecond)
	}
	a.LastAt = at
	e.Org, e.Seq, e.At, e.BalanceAfter = a.Org, a.Seq, at, a.Balance
	a.entries = append(a.entries, e)
	return e
}

// Debit takes price credits for a reply and returns the ledger entry. It
// refuses (Insufficient) when the balance cannot cover it. When the debit
// takes the balance below the auto-recharge minimum, it marks the crossing
// as due, in this same change.
func (a *Account) Debit(price Credits, e Entry, now time.Time) (Entry, error) {
	if price <= 0 {
		return Entry{}, apperr.E(apperr.Internal, "debit of %d credits", price)
	}
	if a.Balance < price {
		return Entry{}, Insufficient(a.Balance, price)
	}
	before := a.Balance
	e.Kind, e.Amount = KindCharge, -price
	out := a.append(e, now)
	a.markCrossing(before, now)
	return out, nil
}

// markCrossing notes a fall below the minimum: admins get a low-balance
// notice, and with auto-recharge on a recharge of this crossing becomes
// due. While the balance stays below, a declined recharge is tried again by
// the first charge after its RetryAt.
func (a *Account) markCrossing(before Credits, now time.Time) {
	au := &a.Auto
	if a.Balance >= au.Minimum {
		return
	}
	armed := au.Enabled && a.Card != nil && au.Due == 0
	switch {
	case before >= au.Minimum:
		au.Crossings++
		a.notify(now, NoticeLowBalance, fmt.Sprintf("The balance fell to %d credits, below the minimum of %d.", a.Balance, au.Minimum))
		if armed {
			au.Failures, au.RetryAt = 0, nil
			au.Due = au.Crossings
		}
	case armed && au.RetryAt != nil && !now.Before(*au.RetryAt):
		au.RetryAt = nil
		au.Due = au.Crossings
	}
}

// Notice is a message for the org's admins about its billing.
type Notice struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Kinds of notices.
const (
	NoticeLowBalance       = "low_balance"
	NoticeRechargeDeclined = "recharge_declined"
	NoticeRechargeOff      = "auto_recharge_off"
)

// maxNotices is how many recent notices an account keeps.
const maxNotices = 10

func (a *Account) notify(now time.Time, kind, text string) {
	a.Notices = append(a.Notices, Notice{At: now.UTC(), Kind: kind, Text: text})
	if len(a.Notices) > maxNotices {
		a.Notices = a.Notices[len(a.Notices)-maxNotices:]
	}
	a.fresh = append(a.fresh, a.Notices[len(a.Notices)-1])
}

// NewNotices returns the notices raised since the account was read, for
// the caller to pass on to the admins once the change is stored.
func (a *Account) NewNotices() []Notice { return a.fresh }

// Credit adds credits (a purchase, a recharge, a refund or an adjustment)
// and returns the ledger entry.
func (a *Account) Credit(kind Kind, amount Credits, e Entry, now time.Time) (Entry, error) {
	if amount <= 0 && kind != KindAdjustment {
		return Entry{}, apperr.E(apperr.Internal, "%s of %d credits", kind, amount)
	}
	if a.Balance+amount < 0 {
		return Entry{}, Insufficient(a.Balance, -amount)
	}
	e.Kind, e.Amount = kind, amount
	return a.append(e, now), nil
}

// RechargeSucceeded records that the recharge of crossing n was paid:
// nothing is due any more.
func (a *Account) RechargeSucceeded(n int64) {
	if a.Auto.Due == n || a.Auto.Crossings == n {
		a.Auto.Due, a.Auto.Failures, a.Auto.RetryAt = 0, 0, nil
	}
}

// RechargeDeclined records that the recharge of crossing n was declined.
// It reports whether auto-recharge turned itself off; otherwise a retry is
// made by the first charge after RetryAt.
func (a *Account) RechargeDeclined(n int64, reason string, now time.Time) (disabled bool) {
	au := &a.Auto
	if au.Due != n {
		return false // this crossing was handled already
	}
	au.Due = 0
	au.Failures++
	if au.Failures >= MaxRechargeFailures {
		au.Enabled = false
		au.RetryAt = nil
		au.DisabledReason = fmt.Sprintf("Auto-recharge was turned off after %d declined payments: %s", au.Failures, reason)
		a.notify(now, NoticeRechargeOff, au.DisabledReason+" Save another card and turn it on again.")
		return true
	}
	at := now.Add(RetryDelays[au.Failures-1])
	au.RetryAt = &at
	a.notify(now, NoticeRechargeDeclined, fmt.Sprintf("An auto-recharge of %d credits was declined (%s); it will be tried again after %s.",
		au.Amount, reason, at.UTC().Format(time.RFC3339)))
	return false
}

// SetAuto applies an admin's auto-recharge settings. Turning it on needs a
// saved card and a minimum below which Amount lifts the balance.
func (a *Account) SetAuto(enabled bool, minimum, amount Credits) error {
	if enabled {
		switch {
		case a.Card == nil:
			return apperr.E(apperr.Conflict, "Save a card first: buy credits once with saveCard set to true.")
		case minimum < 0 || amount <= 0:
			return apperr.E(apperr.Invalid, "minimum must be 0 or more and amount more than 0.")
		case amount%CreditsPerCent != 0:
			return apperr.E(apperr.Invalid, "amount must be a whole number of cents (a multiple of %d credits).", CreditsPerCent)
		case amount < MinPurchase || amount > MaxPurchase:
			return apperr.E(apperr.Invalid, "amount must be from %d to %d credits.", MinPurchase, MaxPurchase)
		}
	}
	a.Auto.Enabled, a.Auto.Minimum, a.Auto.Amount = enabled, minimum, amount
	a.Auto.DisabledReason = ""
	a.Auto.Failures, a.Auto.RetryAt = 0, nil
	if !enabled {
		a.Auto.Due = 0
	}
	return nil
}

// Purchase limits: $5 to $10,000.
const (
	MinPurchase Credits = 5 * 100 * CreditsPerCent
	MaxPurchase Credits = 10_000 * 100 * CreditsPerCent
)

// CheckPurchase validates an amount of credits to buy.
func CheckPurchase(c Credits) error {
	switch {
	case c < MinPurchase || c > MaxPurchase:
		return apperr.E(apperr.Invalid, "credits must be from %d ($5) to %d ($10,000).", MinPurchase, MaxPurchase)
	case c%CreditsPerCent != 0:
		return apperr.E(apperr.Invalid, "credits must be a whole number of cents (a multiple of %d).", CreditsPerCent)
	}
	return nil
}

// RechargeDue says whether a change of an account, from old (nil: it did
// not exist) to new, made a recharge due: the crossing it marked, once.
// Later changes that keep the same crossing due say nothing, so a stream
// consumer triggers one recharge per crossing however many charges follow.
func RechargeDue(old, new *Account) (crossing int64, due bool) {
	if new == nil || new.Auto.Due == 0 || (old != nil && old.Auto.Due == new.Auto.Due) {
		return 0, false
	}
	return new.Auto.Due, true
}
