package billing

import (
	"strings"
	"testing"
)

func TestReconcile(t *testing.T) {
	a := &Account{Org: "o"}
	a.Credit(KindPurchase, 1000, Entry{PaymentID: "pi_1"}, t0)
	a.Debit(100, Entry{ConversationID: "c", MessageID: "m1"}, t0)   // stored, fine
	a.Debit(100, Entry{ConversationID: "c", MessageID: "m2"}, t0)   // stored, failed, not refunded yet
	a.Debit(100, Entry{ConversationID: "c", MessageID: "gone"}, t0) // no message
	entries := a.Entries()
	replies := []Reply{
		{ConversationID: "c", MessageID: "m1", Charge: &Charge{Credits: 100}},
		{ConversationID: "c", MessageID: "m2", Failed: true, Charge: &Charge{Credits: 100}},
		{ConversationID: "c", MessageID: "m3", Charge: &Charge{Credits: 50}}, // charged, no entry
		{ConversationID: "c", MessageID: "old"},                              // before billing
	}
	r := Reconcile(a, entries, replies)
	if len(r.ChargesWithoutMessages) != 1 || r.ChargesWithoutMessages[0] != 4 {
		t.Errorf("charges without messages: %v", r.ChargesWithoutMessages)
	}
	if strings.Join(r.MessagesWithoutCharges, ",") != "c/old" || strings.Join(r.RefundsDue, ",") != "c/m2" {
		t.Errorf("without charges %v, refunds due %v", r.MessagesWithoutCharges, r.RefundsDue)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "m3") {
		t.Errorf("problems: %v", r.Problems)
	}
	// A tampered ledger: an entry's balance does not follow.
	entries[2].BalanceAfter++
	if p := Audit(a, entries); len(p) == 0 {
		t.Error("a broken balance chain passed the audit")
	}
}
