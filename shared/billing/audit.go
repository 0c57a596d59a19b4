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
