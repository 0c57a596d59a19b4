// Package billing is wacrm's money: an org's credit balance and its
// append-only ledger, the prices of replies from a rate card, purchases and
// auto-recharge. It decides; storage keeps and payments move money.
//
// Money is integers only. A credit is a hundredth of a cent of the card's
// currency (10,000 credits = 1 USD), fine enough for Meta's per-message
// rates ($0.0034) without fractions.
package billing

import (
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

// Credits is an amount of credits. Ledger amounts are signed; a balance is
// never negative.
type Credits int64

// CreditsPerCent converts a payment in cents to credits.
const CreditsPerCent = 100

// Cents is the payment that buys c credits (c is a whole number of cents).
func (c Credits) Cents() int64 { return int64(c) / CreditsPerCent }

// FromCents is the credits a payment of cents buys.
func FromCents(cents int64) Credits { return Credits(cents * CreditsPerCent) }

// Kind is the kind of a ledger entry.
type Kind string

const (
	KindPurchase   Kind = "purchase"   // an admin bought credits
	KindRecharge   Kind = "recharge"   // auto-recharge bought credits
	KindCharge     Kind = "charge"     // a reply was charged
	KindRefund     Kind = "refund"     // a charged reply failed for good
	KindAdjustment Kind = "adjustment" // a correction by the operator
)

// Entry is one line of an org's ledger. Entries are never changed or
// removed: the balance is the sum of their amounts, and each entry carries
// the balance after it, so a gap or a reordering shows.
type Entry struct {
	Org          string    `json:"org"`
	Seq          int64     `json:"seq"` // 1, 2, 3, ... per org, without gaps
	At           time.Time `json:"at"`
	Kind         Kind      `json:"kind"`
	Amount       Credits   `json:"amount"` // signed: charges are negative
	BalanceAfter Credits   `json:"balanceAfter"`
	Reason       string    `json:"reason"`

	// What the entry belongs to: a message (charge, refund) or a payment
	// (purchase, recharge).
	ConversationID string `json:"conversationId,omitempty"`
	MessageID      string `json:"messageId,omitempty"`
	PaymentID      string `json:"paymentId,omitempty"`
	UserID         string `json:"userId,omitempty"`

	// Usage dimensions of charges and refunds.
	Market   string `json:"market,omitempty"`
	Category string `json:"category,omitempty"`
	Model    Model  `json:"model,omitempty"`
	// NewConversation: this charge opened a paid 24-hour conversation.
	NewConversation bool `json:"newConversation,omitempty"`
}

// Charge is what a reply cost, kept on the message beside Meta's own
// pricing report, so a refund finds its amount and happens once.
type Charge struct {
	Credits  Credits `json:"credits"`
	Seq      int64   `json:"seq,omitempty"` // the ledger entry; 0 when free
	Market   string  `json:"market"`
	Category string  `json:"category"`
	Model    Model   `json:"model"`
	// Refunded is set, with the refund's ledger entry, when the message
	// failed for good.
	Refunded  bool  `json:"refunded,omitempty"`
	RefundSeq int64 `json:"refundSeq,omitempty"`
}

// Insufficient is the refusal of a charge the balance cannot cover: a 402
// insufficient_credits carrying the balance and the price.
func Insufficient(balance, price Credits) *apperr.Error {
	e := apperr.E(apperr.InsufficientCredits,
		"This reply costs %d credits and the balance is %d; an admin can buy credits under Billing.", price, balance)
	e.Details = map[string]any{"balance": balance, "price": price}
	return e
}
