package billingstream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/billing/billingstream"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
)

// keyedPayments plays a provider: a repeated idempotency key is the same
// payment.
type keyedPayments struct {
	mu    sync.Mutex
	calls int
	keys  map[string]string
}

func (p *keyedPayments) Pay(_ context.Context, req billing.PayRequest) (billing.PayResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.keys == nil {
		p.keys = map[string]string{}
	}
	id, ok := p.keys[req.IdempotencyKey]
	if !ok {
		id = "pi_" + req.IdempotencyKey
		p.keys[req.IdempotencyKey] = id
	}
	return billing.PayResult{PaymentID: id, Status: billing.EventProcessing}, nil
}

type refunds struct {
	mu    sync.Mutex
	calls []string
}

func (r *refunds) RefundMessage(_ context.Context, org, conv string, _ time.Time, id string, _ time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, org+"/"+conv+"/"+id)
	return len(r.calls) == 1, nil
}

func change(t *testing.T, ev changes.Event, key table.Key, old, cur any) changes.Change {
	t.Helper()
	ch := changes.Change{ID: "c1", Event: ev, Key: key}
	var err error
	if old != nil {
		if ch.Old, err = changes.ImageOf(old.(table.Item)); err != nil {
			t.Fatal(err)
		}
	}
	if ch.New, err = changes.ImageOf(cur.(table.Item)); err != nil {
		t.Fatal(err)
	}
	return ch
}

type accountImage struct {
	table.Keys
	billing.Account
}

type messageImage struct {
	table.Keys
	inbox.Message
}

// The change that marked a crossing, delivered twice, makes one payment;
// the changes after it (the payment recorded, more charges below the
// minimum) make none.
func TestCrossingDeliveredTwiceRechargesOnce(t *testing.T) {
	ctx := context.Background()
	s := storage.New(storagetest.Bolt(t))
	acct, err := s.UpdateAccount(ctx, "acme", func(a *billing.Account) error {
		a.Card = &billing.Card{PaymentMethodID: "pm_card_visa"}
		a.Auto = billing.Auto{Enabled: true, Minimum: 1000, Amount: billing.MinPurchase, Crossings: 1, Due: 1}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pay := &keyedPayments{}
	c := billingstream.Consumer(&billing.Service{Store: s, Payments: pay}, &refunds{}, nil, nil)
	key := table.Key{PK: "BILL#acme", SK: "ACCOUNT"}
	before := *acct
	before.Auto.Due = 0
	crossed := change(t, changes.Modify, key, &accountImage{Keys: table.Keys{PK: key.PK, SK: key.SK}, Account: before},
		&accountImage{Keys: table.Keys{PK: key.PK, SK: key.SK}, Account: *acct})
	later := change(t, changes.Modify, key, &accountImage{Keys: table.Keys{PK: key.PK, SK: key.SK}, Account: *acct},
		&accountImage{Keys: table.Keys{PK: key.PK, SK: key.SK}, Account: *acct})
	for _, ch := range []changes.Change{crossed, crossed, later} {
		if !changes.MatchAny(c.Filters, ch) {
			t.Fatalf("filters skip %s", ch.Key)
		}
		if err := c.Handle(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(pay.keys) != 1 || pay.calls != 2 {
		t.Fatalf("%d payments from %d calls: want the crossing's one payment, asked for once per delivery", len(pay.keys), pay.calls)
	}
	if _, ok := pay.keys["recharge:acme:1:0"]; !ok {
		t.Errorf("payment keys %v: want the crossing's", pay.keys)
	}
}

// A charged reply that failed is refunded; the same change again asks the
// store again (which refunds once), and the change of the refund itself,
// free replies and replies still in flight ask nothing.
func TestFailedReplyRefundAskedOnlyWhenDue(t *testing.T) {
	ctx := context.Background()
	key := table.Key{PK: "MSGS#acme#c1", SK: "MSG#2026-11-28T09:00:00.000000000Z#m1"}
	msg := func(status inbox.Status, charge *billing.Charge) *messageImage {
		return &messageImage{Keys: table.Keys{PK: key.PK, SK: key.SK}, Message: inbox.Message{
			Org: "acme", ConversationID: "c1", ID: "m1", Direction: inbox.Outbound, Status: status, Charge: charge,
			Timestamp: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC),
		}}
	}
	charged := &billing.Charge{Credits: 500, Seq: 3}
	failed := change(t, changes.Modify, key, msg(inbox.StatusSent, charged), msg(inbox.StatusFailed, charged))
	tests := []struct {
		name  string
		ch    changes.Change
		calls int
	}{
		{"failed, charged", failed, 1},
		{"the same change again", failed, 2},
		{"the refund's own change", change(t, changes.Modify, key, msg(inbox.StatusFailed, charged),
			msg(inbox.StatusFailed, &billing.Charge{Credits: 500, Seq: 3, Refunded: true, RefundSeq: 4})), 2},
		{"failed, free", change(t, changes.Modify, key, msg(inbox.StatusSent, &billing.Charge{}), msg(inbox.StatusFailed, &billing.Charge{})), 2},
		{"failed, never charged", change(t, changes.Modify, key, msg(inbox.StatusSent, nil), msg(inbox.StatusFailed, nil)), 2},
		{"delivered", change(t, changes.Modify, key, msg(inbox.StatusSent, charged), msg(inbox.StatusDelivered, charged)), 2},
	}
	r := &refunds{}
	c := billingstream.Consumer(&billing.Service{}, r, nil, nil)
	for _, tt := range tests {
		if err := c.Handle(ctx, tt.ch); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(r.calls) != tt.calls {
			t.Fatalf("%s: %d refund calls, want %d", tt.name, len(r.calls), tt.calls)
		}
	}
	if r.calls[0] != "acme/c1/m1" {
		t.Errorf("refund asked for %s", r.calls[0])
	}
}

// A change the consumer cannot read is an error (retried, then
// dead-lettered), never a silent skip.
func TestUnreadableChangeFails(t *testing.T) {
	c := billingstream.Consumer(&billing.Service{}, &refunds{}, nil, nil)
	bad := changes.Change{Event: changes.Modify, Key: table.Key{PK: "BILL#acme", SK: "ACCOUNT"}, New: changes.Image(`{"balance":"lots"}`)}
	if err := c.Handle(context.Background(), bad); err == nil {
		t.Error("an unreadable account change was accepted")
	}
}
