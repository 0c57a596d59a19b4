package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

// Billing: one account item per org holds the balance and the ledger's
// length; every change of the balance writes the account (conditional on
// the version read) and appends its ledger entries in the same
// transaction, so the ledger always sums to the balance. Entries are put
// only if absent and never rewritten.
//
//	account         PK BILL#<org>          SK ACCOUNT
//	ledger entry    PK LEDGER#<org>        SK E#<t>#<seq>   (t never goes back: time order = seq order)
//	payment         PK PAY#<paymentId>     SK PAY
//	provider event  PK PAYEVT#<eventId>    SK PAYEVT        (dedup claim, 30 days)
//	billed message  GSI1 ORG#<org>#BILLED  <t of the message>#<id>  (outbound message with Meta's pricing, for usage)

func accountKey(org string) table.Key { return table.Key{PK: "BILL#" + org, SK: "ACCOUNT"} }

func ledgerPK(org string) string { return "LEDGER#" + org }

func ledgerSK(e *billing.Entry) string { return fmt.Sprintf("E#%s#%012d", tkey(e.At), e.Seq) }

func paymentKey(id string) table.Key { return table.Key{PK: "PAY#" + id, SK: "PAY"} }

func paymentEventKey(id string) table.Key { return table.Key{PK: "PAYEVT#" + id, SK: "PAYEVT"} }

func billedPK(org string) string { return orgKey(org) + "#BILLED" }

const paymentEventTTL = 30 * 24 * time.Hour

type accountItem struct {
	table.Keys
	billing.Account
}

type ledgerItem struct {
	table.Keys
	billing.Entry
}

type paymentItem struct {
	table.Keys
	billing.PaymentRecord
}

type eventClaimItem struct {
	table.Keys
	PaymentID string `json:"paymentId"`
}

// Account returns org's billing account; an org that never had one has a
// zero balance.
func (s *Store) Account(ctx context.Context, org string) (*billing.Account, error) {
	var it accountItem
	err := s.t.Get(ctx, accountKey(org), &it)
	if err != nil && !errors.Is(err, table.ErrNotFound) {
		return nil, fmt.Errorf("get account of %s: %w", org, err)
	}
	it.Org = org
	return &it.Account, nil
}

// readAccount reads the account item for a change (zero, version 0, when
// absent).
func (s *Store) readAccount(ctx context.Context, org string) (*accountItem, error) {
	it := &accountItem{}
	err := s.t.Get(ctx, accountKey(org), it)
	if err != nil && !errors.Is(err, table.ErrNotFound) {
		return nil, fmt.Errorf("get account of %s: %w", org, err)
	}
	it.Org = org
	return it, nil
}

// accountOps are the writes of a changed account: the account itself,
// conditional on the version read, and its new ledger entries. They are
// empty when nothing changed.
func accountOps(it *accountItem, changed bool) []table.Op {
	if !changed && len(it.Entries()) == 0 {
		return nil
	}
	k := accountKey(it.Org)
	ver := it.Ver
	it.Keys = table.Keys{PK: k.PK, SK: k.SK, Ver: ver + 1}
	ops := []table.Op{{Put: it, Cond: table.Version(ver)}}
	for _, e := range it.Entries() {
		li := &ledgerItem{Entry: e}
		li.PK, li.SK = ledgerPK(e.Org), ledgerSK(&e)
		ops = append(ops, table.Op{Put: li, Cond: table.NotExists()})
	}
	return ops
}

// errAccountMoved: the account changed between our read and our write.
var errAccountMoved = errors.New("account changed concurrently")

// contended runs try until it does not report errAccountMoved, with
// jittered backoff: every charge of an org meets on its account item. In
// one process the attempts on an org's account take turns (a lock per
// org), so concurrent requests of one instance queue instead of failing
// each other's conditions; other instances still meet as optimistic
// conflicts. org "" takes no turn.
func (s *Store) contended(ctx context.Context, org, what string, try func() error) error {
	const maxTries = 400
	var turn *sync.Mutex
	if org != "" {
		l, _ := s.accounts.LoadOrStore(org, &sync.Mutex{})
		turn = l.(*sync.Mutex)
	}
	for i := range maxTries {
		if turn != nil {
			turn.Lock()
		}
		err := try()
		if turn != nil {
			turn.Unlock()
		}
		if !errors.Is(err, errAccountMoved) {
			return err
		}
		ceiling := time.Millisecond << min(i, 5) // 1ms .. 32ms
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(rand.N(ceiling) + 100*time.Microsecond):
		}
	}
	return fmt.Errorf("%s: the account kept changing: %w", what, table.ErrConflict)
}

// UpdateAccount changes org's account with fn (settings, an adjustment)
// and appends the entries fn made, atomically.
func (s *Store) UpdateAccount(ctx context.Context, org string, fn func(*billing.Account) error) (*billing.Account, error) {
	var it *accountItem
	err := s.contended(ctx, org, "update account", func() error {
		var err error
		if it, err = s.readAccount(ctx, org); err != nil {
			return err
		}
		if err := fn(&it.Account); err != nil {
			return err
		}
		err = s.t.Write(ctx, accountOps(it, true)...)
		if table.FailedOp(err) == 0 || errors.Is(err, table.ErrConflict) {
			return errAccountMoved
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &it.Account, nil
}

// Ledger returns a page of org's ledger, newest first.
func (s *Store) Ledger(ctx context.Context, org, cursor string, limit int) ([]billing.Entry, string, error) {
	q := table.Query{PK: ledgerPK(org), SKPrefix: "E#", Descending: true, Limit: limit}
	var err error
	if q.Cursor, err = decodeCursor(q, cursor); err != nil {
		return nil, "", err
	}
	var page []ledgerItem
	next, err := s.t.Query(ctx, q, &page)
	if err != nil {
		return nil, "", fmt.Errorf("query ledger of %s: %w", org, err)
	}
	out := make([]billing.Entry, len(page))
	for i := range page {
		out[i] = page[i].Entry
	}
	return out, encodeCursor(q, next), nil
}

// LedgerBetween calls fn with org's ledger entries from from (inclusive) to
// to (exclusive), oldest first, a page at a time.
func (s *Store) LedgerBetween(ctx context.Context, org string, from, to time.Time, fn func([]billing.Entry) error) error {
	q := table.Query{PK: ledgerPK(org), SKFrom: "E#" + tkey(from), SKTo: "E#" + tkey(to.Add(-time.Nanosecond)) + "#~", Limit: 500}
	for {
		var page []ledgerItem
		next, err := s.t.Query(ctx, q, &page)
		if err != nil {
			return fmt.Errorf("query ledger of %s: %w", org, err)
		}
		entries := make([]billing.Entry, len(page))
		for i := range page {
			entries[i] = page[i].Entry
		}
		if err := fn(entries); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		q.Cursor = next
	}
}

// BilledBetween calls fn with Meta's pricing reports of org's outbound
// messages sent from from (inclusive) to to (exclusive).
func (s *Store) BilledBetween(ctx context.Context, org string, from, to time.Time, fn func([]billing.Billed) error) error {
	q := table.Query{Index: table.GSI1, PK: billedPK(org), SKFrom: tkey(from), SKTo: tkey(to.Add(-time.Nanosecond)) + "#~", Limit: 500}
	for {
		var page []messageItem
		next, err := s.t.Query(ctx, q, &page)
		if err != nil {
			return fmt.Errorf("query billed messages of %s: %w", org, err)
		}
		out := make([]billing.Billed, 0, len(page))
		for _, m := range page {
			if m.Pricing == nil {
				continue
			}
			out = append(out, billing.Billed{At: m.Timestamp, Billable: m.Pricing.Billable, Model: m.Pricing.Model,
				Category: m.Pricing.Category, Charge: m.Charge})
		}
		if err := fn(out); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		q.Cursor = next
	}
}

// Payment returns a payment record; apperr.NotFound when absent.
func (s *Store) Payment(ctx context.Context, id string) (*billing.PaymentRecord, error) {
	var it paymentItem
	if err := s.t.Get(ctx, paymentKey(id), &it); err != nil {
		return nil, notFound(err, "payment", id)
	}
	return &it.PaymentRecord, nil
}

// PutPayment records a payment just created at the provider, and lets fn
// change the account in the same transaction (a purchase shows as the
// last payment; a recharge notes its attempt). A payment recorded already
// is left as it is.
func (s *Store) PutPayment(ctx context.Context, p *billing.PaymentRecord, fn func(*billing.Account) error) error {
	return s.contended(ctx, p.Org, "put payment", func() error {
		acct, err := s.readAccount(ctx, p.Org)
		if err != nil {
			return err
		}
		if err := fn(&acct.Account); err != nil {
			return err
		}
		pi := &paymentItem{PaymentRecord: *p}
		k := paymentKey(p.ID)
		pi.PK, pi.SK, pi.Ver = k.PK, k.SK, 1
		ops := append([]table.Op{{Put: pi, Cond: table.NotExists()}}, accountOps(acct, true)...)
		err = s.t.Write(ctx, ops...)
		switch {
		case table.FailedOp(err) == 0:
			return nil // recorded before (a retried request, or its event came first)
		case table.FailedOp(err) == 1 || errors.Is(err, table.ErrConflict):
			return errAccountMoved
		}
		return err
	})
}

// ApplyPaymentEvent applies a provider event to its payment and the
// account, exactly once by event id, with fn (billing.ApplyPayment): the
// event's claim, the payment, the account and any ledger entry are one
// transaction. applied is false for an event seen before. A payment never
// recorded is created from the event (fromEvent).
func (s *Store) ApplyPaymentEvent(ctx context.Context, eventID string, fromEvent *billing.PaymentRecord, fn func(*billing.Account, *billing.PaymentRecord) error) (applied bool, err error) {
	err = s.contended(ctx, fromEvent.Org, "apply payment event", func() error {
		var pi paymentItem
		gerr := s.t.Get(ctx, paymentKey(fromEvent.ID), &pi)
		switch {
		case errors.Is(gerr, table.ErrNotFound):
			pi = paymentItem{PaymentRecord: *fromEvent}
		case gerr != nil:
			return fmt.Errorf("get payment %s: %w", fromEvent.ID, gerr)
		}
		acct, err := s.readAccount(ctx, pi.Org)
		if err != nil {
			return err
		}
		if err := fn(&acct.Account, &pi.PaymentRecord); err != nil {
			return err
		}
		claim := &eventClaimItem{PaymentID: pi.ID}
		ck := paymentEventKey(eventID)
		claim.PK, claim.SK, claim.TTL = ck.PK, ck.SK, expiresIn(paymentEventTTL)
		k, ver := paymentKey(pi.ID), pi.Ver
		pi.Keys = table.Keys{PK: k.PK, SK: k.SK, Ver: ver + 1}
		ops := []table.Op{{Put: claim, Cond: table.NotExists()}, {Put: &pi, Cond: table.Version(ver)}}
		ops = append(ops, accountOps(acct, true)...)
		err = s.t.Write(ctx, ops...)
		switch op := table.FailedOp(err); {
		case op == 0:
			return nil // this event was applied before
		case op == 1 || op == 2 || errors.Is(err, table.ErrConflict):
			return errAccountMoved
		case err != nil:
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}

// RefundMessage gives back a failed reply's charge, once: the message
// (marked refunded, conditional on its version), the account and the
// refund's ledger entry are one transaction. It reports whether it
// refunded; a free, refunded or not-failed message is left alone.
func (s *Store) RefundMessage(ctx context.Context, org, conversationID string, ts time.Time, id string, now time.Time) (bool, error) {
	refunded := false
	err := s.contended(ctx, org, "refund", func() error {
		refunded = false
		var mi messageItem
		if err := s.t.Get(ctx, outboundKey(org, conversationID, ts, id), &mi); err != nil {
			return notFound(err, "message", id)
		}
		if mi.Status != inbox.StatusFailed || mi.Charge == nil {
			return nil
		}
		acct, err := s.readAccount(ctx, org)
		if err != nil {
			return err
		}
		e, err := billing.Refund(&acct.Account, mi.Charge, billing.Entry{
			ConversationID: conversationID, MessageID: id, Reason: "Reply failed: " + failureReason(&mi.Message),
		}, now)
		if err != nil || e == nil {
			return err
		}
		mi.Ver++
		ops := append([]table.Op{{Put: &mi, Cond: table.Version(mi.Ver - 1)}}, accountOps(acct, true)...)
		err = s.t.Write(ctx, ops...)
		if op := table.FailedOp(err); op == 0 || op == 1 || errors.Is(err, table.ErrConflict) {
			return errAccountMoved
		}
		refunded = err == nil
		return err
	})
	return refunded, err
}

func failureReason(m *inbox.Message) string {
	if len(m.Errors) > 0 && m.Errors[0].Title != "" {
		return m.Errors[0].Title
	}
	return "not delivered"
}

// chargeOps reads the account, lets charge change it (and the
// conversation and message it sees), and returns the account's writes.
func (s *Store) chargeOps(ctx context.Context, org string, charge func(*billing.Account) error) ([]table.Op, error) {
	acct, err := s.readAccount(ctx, org)
	if err != nil {
		return nil, err
	}
	if err := charge(&acct.Account); err != nil {
		return nil, err
	}
	return accountOps(acct, false), nil
}

// HasActiveNumber implements billing.Numbers: whether any of org's
// WhatsApp numbers is active.
func (s *Store) HasActiveNumber(ctx context.Context, org string) (bool, error) {
	integs, err := s.Integrations(ctx, org)
	if err != nil {
		return false, err
	}
	for _, in := range integs {
		if in.Active {
			return true, nil
		}
	}
	return false, nil
}

// WholeLedger reads org's whole ledger, oldest first, for audits.
func (s *Store) WholeLedger(ctx context.Context, org string) ([]billing.Entry, error) {
	var out []billing.Entry
	err := s.LedgerBetween(ctx, org, time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), func(page []billing.Entry) error {
		out = append(out, page...)
		return nil
	})
	return out, err
}

// Reconcile audits org's billing against its stored replies (see
// billing.Reconcile): the account, the whole ledger, and every outbound
// message of every conversation, read a page at a time. It is for the
// audit command, not a request path: its reads grow with the org.
func (s *Store) Reconcile(ctx context.Context, org string) (billing.Reconciliation, error) {
	acct, err := s.Account(ctx, org)
	if err != nil {
		return billing.Reconciliation{}, err
	}
	entries, err := s.WholeLedger(ctx, org)
	if err != nil {
		return billing.Reconciliation{}, err
	}
	var replies []billing.Reply
	convCursor := ""
	for {
		convs, next, err := s.Conversations(ctx, org, inbox.Filter{Limit: 100, Cursor: convCursor}, s.now())
		if err != nil {
			return billing.Reconciliation{}, err
		}
		for _, c := range convs {
			msgCursor := ""
			for {
				msgs, nextMsgs, err := s.Messages(ctx, org, c.ID, msgCursor, 100)
				if err != nil {
					return billing.Reconciliation{}, err
				}
				for _, m := range msgs {
					if m.Direction == inbox.Outbound {
						replies = append(replies, billing.Reply{ConversationID: c.ID, MessageID: m.ID, Failed: m.Status == inbox.StatusFailed, Charge: m.Charge})
					}
				}
				if nextMsgs == "" {
					break
				}
				msgCursor = nextMsgs
			}
		}
		if next == "" {
			break
		}
		convCursor = next
	}
	return billing.Reconcile(acct, entries, replies), nil
}
