package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
)

var card = billing.SampleRateCard()

// countingPayments is a provider that counts the payments it really makes:
// a repeated idempotency key is the same payment, as at Stripe.
type countingPayments struct {
	mu     sync.Mutex
	byKey  map[string]billing.PayResult
	status string
}

func (p *countingPayments) Pay(_ context.Context, req billing.PayRequest) (billing.PayResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byKey == nil {
		p.byKey = map[string]billing.PayResult{}
	}
	if res, ok := p.byKey[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
		return res, nil
	}
	res := billing.PayResult{PaymentID: fmt.Sprintf("pi_%d", len(p.byKey)+1), Status: p.status, CustomerID: "cus_1"}
	p.byKey[req.IdempotencyKey] = res
	return res, nil
}

func (p *countingPayments) made() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.byKey) }

// A provider event delivered five times, at once, credits once; another
// event for the same payment credits nothing more.
func TestPaymentEventDeliveredFiveTimesCreditsOnce(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		svc := &billing.Service{Store: s, Rates: card}
		ev := billing.PaymentEvent{EventID: "evt_1", PaymentID: "pi_1", Status: billing.EventSucceeded, AmountCents: 1000,
			Org: "acme", Kind: billing.KindPurchase, Credits: 100_000, At: outNow}
		var applied atomic.Int64
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := svc.ApplyEvent(ctx, ev)
				if err != nil {
					t.Error(err)
				}
				if ok {
					applied.Add(1)
				}
			}()
		}
		wg.Wait()
		again := ev
		again.EventID = "evt_2"
		if _, err := svc.ApplyEvent(ctx, again); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Account(ctx, "acme")
		entries, _ := s.WholeLedger(ctx, "acme")
		if applied.Load() != 1 || a.Balance != 100_000 || len(entries) != 1 || a.Last == nil || a.Last.Status != billing.PaymentSucceeded {
			t.Fatalf("applied %d times; balance %d, %d entries, last payment %+v", applied.Load(), a.Balance, len(entries), a.Last)
		}
		if p := billing.Audit(a, entries); p != nil {
			t.Fatal(p)
		}
		// An event whose amount disagrees with the recorded payment
		// credits nothing.
		bad := ev
		bad.EventID, bad.PaymentID, bad.AmountCents = "evt_3", "pi_2", 1
		if _, err := svc.ApplyEvent(ctx, bad); err == nil {
			t.Fatal("an event with the wrong amount was applied")
		}
	})
}

// chargesAcrossMinimum runs n concurrent replies on one org whose balance
// crosses the auto-recharge minimum once, and returns the account.
func chargesAcrossMinimum(t *testing.T, s *storage.Store, n int) *billing.Account {
	t.Helper()
	ctx := context.Background()
	const conversations = 20
	for i := range conversations {
		inboundConversation(t, s, "acme", fmt.Sprintf("c%02d", i))
	}
	price, _ := card.Rate(card.MarketOf("15550001111"), billing.PerMessage, billing.CategoryService)
	start := billing.Credits(n) * price
	_, err := s.UpdateAccount(ctx, "acme", func(a *billing.Account) error {
		a.Model = billing.PerMessage
		a.Card = &billing.Card{PaymentMethodID: "pm_card_visa"}
		if _, err := a.Credit(billing.KindAdjustment, start, billing.Entry{Reason: "start"}, outNow); err != nil {
			return err
		}
		return a.SetAuto(true, start/2, billing.MinPurchase)
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			at := outNow.Add(time.Minute)
			m := outboundMessage("acme", fmt.Sprintf("c%02d", i%conversations), fmt.Sprintf("m%04d", i), at)
			if _, _, err := s.PutCharged(ctx, m, "", "", applyReply(at), outbox.ChargeReply(card, "u1", at)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a, err := s.Account(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := s.WholeLedger(ctx, "acme")
	if p := billing.Audit(a, entries); p != nil {
		t.Fatal(p)
	}
	if a.Balance != 0 || a.Seq != int64(n)+1 {
		t.Fatalf("after %d charges: balance %d, %d entries", n, a.Balance, a.Seq)
	}
	return a
}

// 1,000 concurrent charges across the minimum mark one crossing, and the
// recharge of it, however often it is asked for, is one payment.
func TestChargesAcrossMinimumMakeOneRecharge(t *testing.T) {
	sizes := map[string]int{"bolt": 1000, "dynamo": 1000}
	for name, newTable := range storagetest.Tables(t) {
		t.Run(name, func(t *testing.T) {
			s := storage.New(newTable(t))
			a := chargesAcrossMinimum(t, s, sizes[name])
			if a.Auto.Crossings != 1 || a.Auto.Due != 1 {
				t.Fatalf("crossings %d, due %d: want one crossing, due", a.Auto.Crossings, a.Auto.Due)
			}
			pay := &countingPayments{status: billing.EventSucceeded}
			svc := &billing.Service{Store: s, Rates: card, Payments: pay}
			var wg sync.WaitGroup
			for range 5 { // the trigger delivered five times
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := svc.Recharge(context.Background(), "acme", 1); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if pay.made() != 1 {
				t.Fatalf("%d payments made for one crossing", pay.made())
			}
		})
	}
}

// A failed reply is refunded once, however often the refund is asked for;
// a reply that did not fail is not refunded.
func TestRefundOnce(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		inboundConversation(t, s, "acme", "c1")
		storagetest.Fund(t, s, "acme", 10_000)
		at := outNow.Add(time.Minute)
		m, _, err := s.PutCharged(ctx, outboundMessage("acme", "c1", "m1", at), "", "", applyReply(at), outbox.ChargeReply(card, "u1", at))
		if err != nil {
			t.Fatal(err)
		}
		if m.Charge == nil || m.Charge.Credits == 0 {
			t.Fatalf("charge %+v", m.Charge)
		}
		if ok, err := s.RefundMessage(ctx, "acme", "c1", at, "m1", at); ok || err != nil {
			t.Fatalf("refund of a queued reply: %v %v", ok, err)
		}
		if err := s.FailOutbound(ctx, "acme", "c1", at, "m1", at, inbox.MessageError{Title: "Undeliverable"}); err != nil {
			t.Fatal(err)
		}
		var refunds atomic.Int64
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.RefundMessage(ctx, "acme", "c1", at, "m1", at)
				if err != nil {
					t.Error(err)
				}
				if ok {
					refunds.Add(1)
				}
			}()
		}
		wg.Wait()
		a, _ := s.Account(ctx, "acme")
		got, _ := s.Message(ctx, "acme", "c1", at, "m1")
		if refunds.Load() != 1 || a.Balance != 10_000 || !got.Charge.Refunded {
			t.Fatalf("refunded %d times, balance %d, charge %+v", refunds.Load(), a.Balance, got.Charge)
		}
	})
}

// A reply without credits stores nothing: no message, no ledger entry, the
// conversation unanswered.
func TestChargeRefusedStoresNothing(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		inboundConversation(t, s, "acme", "c1")
		at := outNow.Add(time.Minute)
		_, _, err := s.PutCharged(ctx, outboundMessage("acme", "c1", "m1", at), "k1", "h1", applyReply(at), outbox.ChargeReply(card, "u1", at))
		if !apperr.Is(err, apperr.InsufficientCredits) {
			t.Fatalf("reply without credits: %v", err)
		}
		if _, err := s.Message(ctx, "acme", "c1", at, "m1"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the refused reply was stored: %v", err)
		}
		c, _ := s.Conversation(ctx, "acme", "c1")
		a, _ := s.Account(ctx, "acme")
		if c.UnansweredSince == nil || c.PaidUntil != nil || a.Seq != 0 {
			t.Errorf("conversation %+v, account %+v", c, a)
		}
	})
}

// recordingTable keeps the items each Write puts.
type recordingTable struct {
	table.Table
	mu   sync.Mutex
	puts [][]table.Item
}

func (r *recordingTable) Write(ctx context.Context, ops ...table.Op) error {
	var items []table.Item
	for _, op := range ops {
		if op.Put != nil {
			items = append(items, op.Put)
		}
	}
	r.mu.Lock()
	r.puts = append(r.puts, items)
	r.mu.Unlock()
	return r.Table.Write(ctx, ops...)
}

// writeUnits is what AWS's documented rules charge for one transaction's
// puts: 2 units per started KB of each item (JSON size, a little more than
// DynamoDB's own measure), plus one unit per secondary index the item is in.
func writeUnits(items []table.Item) int {
	units := 0
	for _, it := range items {
		b, _ := json.Marshal(it)
		units += 2 * ((len(b) + 1023) / 1024)
		for _, ix := range table.Indexes {
			if _, _, ok := it.TableKeys().IndexKey(ix); ok {
				units++
			}
		}
	}
	return units
}

// Write units of a reply, free and charged: the charge adds the account
// and its ledger entry to the reply's transaction, 4 units, and a reply
// inside a paid conversation adds nothing. DynamoDB Local's own report of
// the transactions is logged beside (it does not count per item).
func TestChargedReplyWriteUnits(t *testing.T) {
	var mu sync.Mutex
	var reported float64
	rec := &recordingTable{Table: dynamotest.NewTable(t, dynamo.WithCapacity(func(u float64) { mu.Lock(); reported += u; mu.Unlock() }))}
	s := storage.New(rec)
	ctx := context.Background()
	inboundConversation(t, s, "acme", "c1")
	inboundConversation(t, s, "acme", "c2")
	storagetest.Fund(t, s, "acme", 100_000)
	measure := func(fn func()) (int, float64) {
		rec.mu.Lock()
		rec.puts = nil
		rec.mu.Unlock()
		mu.Lock()
		reported = 0
		mu.Unlock()
		fn()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		units := 0
		for _, items := range rec.puts {
			units += writeUnits(items)
		}
		return units, reported
	}
	at := outNow.Add(time.Minute)
	free, freeRep := measure(func() {
		if _, _, err := s.PutOutbound(ctx, outboundMessage("acme", "c1", "m1", at), "", "", applyReply(at)); err != nil {
			t.Fatal(err)
		}
	})
	charged, chargedRep := measure(func() {
		if _, _, err := s.PutCharged(ctx, outboundMessage("acme", "c2", "m2", at), "", "", applyReply(at), outbox.ChargeReply(card, "u1", at)); err != nil {
			t.Fatal(err)
		}
	})
	later := at.Add(time.Second)
	inside, insideRep := measure(func() {
		if _, _, err := s.PutCharged(ctx, outboundMessage("acme", "c2", "m3", later), "", "", applyReply(later), outbox.ChargeReply(card, "u1", later)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("reply write units by AWS's rules: uncharged %d, charged %d, inside a paid conversation %d (DynamoDB Local reports %.0f, %.0f, %.0f capacity units)",
		free, charged, inside, freeRep, chargedRep, insideRep)
	if charged-free > 4 || inside != free {
		t.Errorf("the charge adds %d write units (want at most 4: the account and its entry, transactional); a free reply inside a paid conversation %d vs %d",
			charged-free, inside, free)
	}
}

// The audit on both tables: a charged reply, a failed one refunded, a
// failed one waiting for its refund, and a reply from before billing.
func TestReconcile(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		inboundConversation(t, s, "acme", "c1")
		inboundConversation(t, s, "acme", "c2")
		storagetest.Fund(t, s, "acme", 100_000)
		at := outNow.Add(time.Minute)
		for i, conv := range []string{"c1", "c2"} {
			m := outboundMessage("acme", conv, fmt.Sprintf("m%d", i), at)
			if _, _, err := s.PutCharged(ctx, m, "", "", applyReply(at), outbox.ChargeReply(card, "u1", at)); err != nil {
				t.Fatal(err)
			}
			if err := s.FailOutbound(ctx, "acme", conv, at, m.ID, at, inbox.MessageError{Title: "Undeliverable"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RefundMessage(ctx, "acme", "c1", at, "m0", at); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PutOutbound(ctx, outboundMessage("acme", "c1", "old", at.Add(time.Second)), "", "", applyReply(at)); err != nil {
			t.Fatal(err)
		}
		r, err := s.Reconcile(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) != 0 || len(r.ChargesWithoutMessages) != 0 || r.Replies != 3 || r.Entries != 4 ||
			fmt.Sprint(r.RefundsDue) != "[c2/m1]" || fmt.Sprint(r.MessagesWithoutCharges) != "[c1/old]" {
			t.Fatalf("reconciliation %+v", r)
		}
	})
}
