// Package banktest is the bank test of billing: many workers charge
// replies, refund failed ones and apply payment events on one org's
// balance at once, with duplicated deliveries, write conflicts and crashes
// between a write and its answer injected, and at the end the balance must
// equal the ledger's sum, never have gone negative, and hold exactly what
// the stored messages and payments say. make test runs it small on both
// tables; scripts/banktest runs it at full size.
package banktest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/table"
)

// Config sizes a run.
type Config struct {
	Org           string
	Workers       int     // concurrent workers
	Instances     int     // stores the workers share out, as Lambda instances would (default 4): they conflict
	Ops           int     // operations in all
	Conversations int     // conversations the charges spread over
	CrashRate     float64 // share of writes that "crash": half before, half after they land
	DuplicateRate float64 // share of operations delivered twice at once
}

// Report is what a run did and found.
type Report struct {
	Charges, Refunds, Purchases, Refused, Crashes, Duplicates int64
	Elapsed                                                   time.Duration
	Balance                                                   billing.Credits
	Entries                                                   int
	Problems                                                  []string
}

// Throughput is ledger entries written per second.
func (r Report) Throughput() float64 { return float64(r.Entries) / r.Elapsed.Seconds() }

// CrashyTable fails a share of writes like a crash would: before the write
// (nothing landed) or after it (it landed, the caller never heard).
type CrashyTable struct {
	table.Table
	Rate    float64
	crashes atomic.Int64
}

// ErrCrash is the injected failure.
var ErrCrash = errors.New("injected crash")

func (c *CrashyTable) Write(ctx context.Context, ops ...table.Op) error {
	r := rand.Float64()
	switch {
	case r < c.Rate/2:
		c.crashes.Add(1)
		return ErrCrash
	case r < c.Rate:
		if err := c.Table.Write(ctx, ops...); err != nil {
			return err
		}
		c.crashes.Add(1)
		return ErrCrash
	}
	return c.Table.Write(ctx, ops...)
}

// Run plays cfg on tbl (wrapped to crash) and audits the outcome.
func Run(ctx context.Context, tbl table.Table, cfg Config) (Report, error) {
	crashy := &CrashyTable{Table: tbl, Rate: cfg.CrashRate}
	clean := storage.New(tbl)
	card := billing.SampleRateCard()
	b := &bank{cfg: cfg, card: card, credited: map[string]billing.Credits{}}
	instances := cfg.Instances
	if instances <= 0 {
		instances = 4
	}
	for range instances {
		b.stores = append(b.stores, storage.New(crashy))
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if _, err := clean.UpdateAccount(ctx, cfg.Org, func(a *billing.Account) error { a.Model = billing.PerMessage; return nil }); err != nil {
		return Report{}, err
	}
	for i := range cfg.Conversations {
		c := &inbox.Conversation{Org: cfg.Org, ID: fmt.Sprintf("conv-%04d", i), CreatedAt: start,
			Customer: inbox.Customer{WaID: []string{"15550001", "5511999", "4477000", "9198000", "99900"}[i%5] + fmt.Sprintf("%04d", i)}}
		m := &inbox.Message{Org: cfg.Org, ConversationID: c.ID, ID: "wamid.in." + c.ID, WAMID: "wamid.in." + c.ID,
			Direction: inbox.Inbound, Type: "text", Text: "hi", Timestamp: start}
		if _, err := clean.SaveInbound(ctx, c, m, func(c *inbox.Conversation) { c.ApplyInbound(m, true) }); err != nil {
			return Report{}, fmt.Errorf("seed conversation: %w", err)
		}
		b.convs = append(b.convs, c)
	}

	began := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Workers)
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(began.UnixNano())))
			s := b.stores[w%len(b.stores)]
			for i := range jobs {
				if err := b.op(ctx, s, rng, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range cfg.Ops {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return Report{}, err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return Report{}, err
	default:
	}
	rep := Report{Charges: b.charges.Load(), Refunds: b.refunds.Load(), Purchases: b.purchases.Load(), Refused: b.refused.Load(),
		Crashes: crashy.crashes.Load(), Duplicates: b.duplicates.Load(), Elapsed: time.Since(began)}
	return rep, b.audit(ctx, clean, &rep)
}

type bank struct {
	cfg    Config
	stores []*storage.Store
	card   *billing.RateCard
	convs  []*inbox.Conversation

	mu       sync.Mutex
	stored   []*inbox.Message // every reply stored, once
	credited map[string]billing.Credits

	charges, refunds, purchases, refused, duplicates atomic.Int64
}

// retry runs fn until it is not a crash or a conflict: the queue or the
// client delivering again.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, ErrCrash) && !errors.Is(err, table.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// twice runs fn once, or (duplicated delivery) twice at once.
func (b *bank) twice(rng *rand.Rand, fn func() error) error {
	if rng.Float64() >= b.cfg.DuplicateRate {
		return fn()
	}
	b.duplicates.Add(1)
	var wg sync.WaitGroup
	var e1, e2 error
	wg.Add(2)
	go func() { defer wg.Done(); e1 = fn() }()
	go func() { defer wg.Done(); e2 = fn() }()
	wg.Wait()
	return errors.Join(e1, e2)
}

func (b *bank) op(ctx context.Context, s *storage.Store, rng *rand.Rand, i int) error {
	switch r := rng.IntN(100); {
	case r < 70:
		return b.charge(ctx, s, rng, i)
	case r < 85:
		return b.refund(ctx, s, rng)
	default:
		return b.purchase(ctx, s, rng, i)
	}
}

func (b *bank) charge(ctx context.Context, s *storage.Store, rng *rand.Rand, i int) error {
	conv := b.convs[rng.IntN(len(b.convs))]
	key := fmt.Sprintf("bank-%d", i)
	var mu sync.Mutex
	var got *inbox.Message
	err := b.twice(rng, func() error {
		return retry(ctx, func() error {
			now := time.Now().UTC()
			m := &inbox.Message{Org: b.cfg.Org, ConversationID: conv.ID, ID: fmt.Sprintf("msg-%d-%d", i, rng.Int()),
				Direction: inbox.Outbound, Type: "text", Text: "reply", Timestamp: now, Status: inbox.StatusQueued, SentBy: "u-bank"}
			stored, _, err := s.PutCharged(ctx, m, key, key, func(c *inbox.Conversation) error { c.ApplyReply("u-bank", "reply", now); return nil },
				outbox.ChargeReply(b.card, "u-bank", now))
			if apperr.Is(err, apperr.InsufficientCredits) {
				b.refused.Add(1)
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			if got != nil && got.ID != stored.ID {
				mu.Unlock()
				return fmt.Errorf("idempotency key %s stored two replies: %s and %s", key, got.ID, stored.ID)
			}
			got = stored
			mu.Unlock()
			return nil
		})
	})
	if err != nil {
		return err
	}
	if got != nil {
		b.charges.Add(1)
		b.mu.Lock()
		b.stored = append(b.stored, got)
		b.mu.Unlock()
	}
	return nil
}

func (b *bank) refund(ctx context.Context, s *storage.Store, rng *rand.Rand) error {
	b.mu.Lock()
	if len(b.stored) == 0 {
		b.mu.Unlock()
		return nil
	}
	m := b.stored[rng.IntN(len(b.stored))]
	b.mu.Unlock()
	b.refunds.Add(1)
	if err := retry(ctx, func() error {
		return s.FailOutbound(ctx, m.Org, m.ConversationID, m.Timestamp, m.ID, time.Now(), inbox.MessageError{Title: "Undeliverable"})
	}); err != nil {
		return err
	}
	return b.twice(rng, func() error {
		return retry(ctx, func() error {
			_, err := s.RefundMessage(ctx, m.Org, m.ConversationID, m.Timestamp, m.ID, time.Now())
			return err
		})
	})
}

func (b *bank) purchase(ctx context.Context, s *storage.Store, rng *rand.Rand, i int) error {
	b.purchases.Add(1)
	pay := fmt.Sprintf("pi_bank_%d", i)
	credits := billing.Credits(rng.IntN(50)+1) * 10_000
	ev := billing.PaymentEvent{EventID: "evt_" + pay, PaymentID: pay, Status: billing.EventSucceeded, AmountCents: credits.Cents(),
		Org: b.cfg.Org, Kind: billing.KindPurchase, Credits: credits, At: time.Now()}
	apply := func(ev billing.PaymentEvent) error {
		return retry(ctx, func() error {
			_, err := s.ApplyPaymentEvent(ctx, ev.EventID, billing.RecordFrom(ev), func(a *billing.Account, p *billing.PaymentRecord) error {
				_, err := billing.ApplyPayment(a, p, ev, time.Now())
				return err
			})
			return err
		})
	}
	if err := b.twice(rng, func() error { return apply(ev) }); err != nil {
		return err
	}
	if rng.IntN(4) == 0 { // the provider reports the same payment again under another event id
		again := ev
		again.EventID += "-again"
		if err := apply(again); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.credited[pay] = credits
	b.mu.Unlock()
	return nil
}

// audit reads everything back: the ledger against the account, and both
// against the stored replies and the payments made.
func (b *bank) audit(ctx context.Context, s *storage.Store, rep *Report) error {
	acct, err := s.Account(ctx, b.cfg.Org)
	if err != nil {
		return err
	}
	entries, err := s.WholeLedger(ctx, b.cfg.Org)
	if err != nil {
		return err
	}
	rep.Balance, rep.Entries = acct.Balance, len(entries)
	rep.Problems = billing.Audit(acct, entries)
	var want billing.Credits
	for _, c := range b.credited {
		want += c
	}
	for _, m := range b.stored {
		got, err := s.Message(ctx, m.Org, m.ConversationID, m.Timestamp, m.ID)
		if err != nil {
			return fmt.Errorf("read back %s: %w", m.ID, err)
		}
		if got.Charge == nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("reply %s was stored without a charge", m.ID))
			continue
		}
		want -= got.Charge.Credits
		if got.Charge.Refunded {
			want += got.Charge.Credits
		}
	}
	if acct.Balance != want {
		rep.Problems = append(rep.Problems, fmt.Sprintf("balance %d; the payments made and the replies stored say %d", acct.Balance, want))
	}
	return nil
}
