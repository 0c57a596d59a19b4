package storage_test

import (
	"context"
	"testing"

	"github.com/wacrm/wacrm/shared/billing/banktest"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// The bank test, small enough for make test (scripts/banktest runs the
// full 100,000): 50 workers charge, refund and buy on one org's balance
// with duplicated deliveries and crashes injected, and the balance ends
// equal to the ledger's sum and to what the stored replies and payments
// say, never negative, each message charged and refunded at most once.
func TestBank(t *testing.T) {
	sizes := map[string]int{"bolt": 2000, "dynamo": 500}
	for name, newTable := range storagetest.Tables(t) {
		t.Run(name, func(t *testing.T) {
			tbl := newTable(t)
			rep, err := banktest.Run(context.Background(), tbl, banktest.Config{
				Org: "bank", Workers: 50, Ops: sizes[name], Conversations: 40, CrashRate: 0.05, DuplicateRate: 0.1,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d charges, %d refunds, %d purchases, %d refused (402), %d crashes, %d duplicated; %d ledger entries in %v (%.0f/s); balance %d",
				name, rep.Charges, rep.Refunds, rep.Purchases, rep.Refused, rep.Crashes, rep.Duplicates, rep.Entries, rep.Elapsed, rep.Throughput(), rep.Balance)
			for _, p := range rep.Problems {
				t.Error(p)
			}
			if rep.Charges == 0 || rep.Refunds == 0 || rep.Purchases == 0 || rep.Crashes == 0 || rep.Duplicates == 0 {
				t.Errorf("the run did not exercise everything: %+v", rep)
			}
		})
	}
}
