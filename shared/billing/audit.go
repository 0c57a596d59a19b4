package billing

import (
	"fmt"
	"sort"
)

// Audit checks an account against its whole ledger and returns every
// problem found: the sum of the amounts against the balance, the chain of
// balances (each entry's balance after is the one before plus its amount,
// never negative), gaps or repeats in the sequence, and money given twice
// for one thing (two charges or two refunds of a message, two credits of a
// payment). No problems: nil.
func Audit(a *Account, entries []Entry) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	var sum Credits
	charged, refunded, credited := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for i, e := range sorted {
		if e.Seq != int64(i+1) {
			bad("entry %d has seq %d: a gap or a repeat in the ledger", i+1, e.Seq)
		}
		sum += e.Amount
		if e.BalanceAfter != sum {
			bad("entry %d: balance after %d, but the entries up to it sum to %d", e.Seq, e.BalanceAfter, sum)
		}
		if e.BalanceAfter < 0 {
			bad("entry %d: balance after %d is negative", e.Seq, e.BalanceAfter)
		}
		if i > 0 && e.At.Before(sorted[i-1].At) {
			bad("entry %d is dated before entry %d", e.Seq, sorted[i-1].Seq)
		}
		var seen map[string]int64
		key := e.MessageID
		switch e.Kind {
		case KindCharge:
			seen = charged
		case KindRefund:
			seen = refunded
		case KindPurchase, KindRecharge:
			seen, key = credited, e.PaymentID
		}
		if seen != nil && key != "" {
			if first, dup := seen[key]; dup {
				bad("%s %s appears twice in the ledger: entries %d and %d", e.Kind, key, first, e.Seq)
			}
			seen[key] = e.Seq
		}
		if e.Kind == KindRefund {
			if _, ok := charged[e.MessageID]; !ok {
				bad("entry %d refunds message %s, which was never charged before it", e.Seq, e.MessageID)
			}
		}
	}
	if sum != a.Balance {
		bad("the ledger sums to %d, the balance is %d", sum, a.Balance)
	}
	if int64(len(sorted)) != a.Seq {
		bad("the ledger holds %d entries, the account counts %d", len(sorted), a.Seq)
	}
	if a.Balance < 0 {
		bad("the balance %d is negative", a.Balance)
	}
	return problems
}

// Reply is an outbound message as reconciling sees it.
type Reply struct {
	ConversationID string
	MessageID      string
	Failed         bool
	Charge         *Charge
}

// Reconciliation is what Reconcile found.
type Reconciliation struct {
	Balance  Credits
	Entries  int
	Replies  int
	Problems []string // money wrong: the ledger, or a charge or refund without its counterpart
	// ChargesWithoutMessages are ledger entries (seq) that charge a
	// message that is not stored.
	ChargesWithoutMessages []int64
	// MessagesWithoutCharges are replies stored without a charge (sent
	// before billing, or by a path that skipped it).
	MessagesWithoutCharges []string
	// RefundsDue are failed replies whose charge was not given back yet
	// (the refund follows the failure on the change stream).
	RefundsDue []string
}

// Reconcile audits an account (see Audit) and matches its ledger with the
// org's stored replies, both ways.
func Reconcile(a *Account, entries []Entry, replies []Reply) Reconciliation {
	r := Reconciliation{Balance: a.Balance, Entries: len(entries), Replies: len(replies), Problems: Audit(a, entries)}
	charges, refunds := map[string]Entry{}, map[string]Entry{}
	for _, e := range entries {
		switch e.Kind {
		case KindCharge:
			charges[e.MessageID] = e
		case KindRefund:
			refunds[e.MessageID] = e
		}
	}
	stored := map[string]bool{}
	for _, m := range replies {
		stored[m.MessageID] = true
		c := m.Charge
		switch {
		case c == nil:
			r.MessagesWithoutCharges = append(r.MessagesWithoutCharges, m.ConversationID+"/"+m.MessageID)
			continue
		case c.Credits > 0 && charges[m.MessageID].Seq == 0:
			r.Problems = append(r.Problems, fmt.Sprintf("message %s carries a charge of %d credits that is not in the ledger", m.MessageID, c.Credits))
		case c.Credits > 0 && -charges[m.MessageID].Amount != c.Credits:
			r.Problems = append(r.Problems, fmt.Sprintf("message %s was charged %d credits, its ledger entry says %d", m.MessageID, c.Credits, -charges[m.MessageID].Amount))
		}
		_, refunded := refunds[m.MessageID]
		switch {
		case c.Refunded && !refunded:
			r.Problems = append(r.Problems, fmt.Sprintf("message %s is marked refunded but the ledger holds no refund", m.MessageID))
		case !c.Refunded && refunded:
			r.Problems = append(r.Problems, fmt.Sprintf("the ledger refunds message %s, which is not marked refunded", m.MessageID))
		case m.Failed && c.Credits > 0 && !c.Refunded:
			r.RefundsDue = append(r.RefundsDue, m.ConversationID+"/"+m.MessageID)
		}
	}
	for id, e := range charges {
		if !stored[id] {
			r.ChargesWithoutMessages = append(r.ChargesWithoutMessages, e.Seq)
		}
	}
	sort.Slice(r.ChargesWithoutMessages, func(i, j int) bool { return r.ChargesWithoutMessages[i] < r.ChargesWithoutMessages[j] })
	sort.Strings(r.MessagesWithoutCharges)
	sort.Strings(r.RefundsDue)
	return r
}
