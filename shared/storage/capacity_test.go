package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/table"
)

// The Messages tab reads in proportion to the page, not to the org: a page
// of 10 from an org with 300 conversations costs what it costs from an org
// with 12, in DynamoDB Local's reported read capacity.
func TestConversationListCostFollowsPage(t *testing.T) {
	var mu sync.Mutex
	var units float64
	tbl := dynamotest.NewTable(t, dynamo.WithCapacity(func(u float64) { mu.Lock(); units += u; mu.Unlock() }))
	s := storage.New(tbl)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seed := func(org string, n int) {
		for i := range n {
			at := t0.Add(time.Duration(i) * time.Minute)
			c := &inbox.Conversation{Org: org, ID: fmt.Sprintf("c%04d", i), OwnerID: "u1", CreatedAt: at}
			m := &inbox.Message{Org: org, ConversationID: c.ID, ID: fmt.Sprintf("wamid.%s.%d", org, i), WAMID: fmt.Sprintf("wamid.%s.%d", org, i),
				Direction: inbox.Inbound, Type: "text", Text: "hi", Timestamp: at}
			if _, err := s.SaveInbound(ctx, c, m, func(c *inbox.Conversation) { c.ApplyInbound(m, true) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	seed("big", 300)
	seed("small", 12)

	cost := func(org string, f inbox.Filter) float64 {
		mu.Lock()
		units = 0
		mu.Unlock()
		got, _, err := s.Conversations(ctx, org, f, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != f.Limit {
			t.Fatalf("%s: got %d conversations, want a full page of %d", org, len(got), f.Limit)
		}
		mu.Lock()
		defer mu.Unlock()
		return units
	}
	for _, f := range []inbox.Filter{{Limit: 10}, {Limit: 10, Unanswered: true}, {Limit: 10, Owner: "u1"}} {
		big, small := cost("big", f), cost("small", f)
		t.Logf("filter %+v: page of 10 costs %.1f RCU in an org of 300, %.1f in an org of 12", f, big, small)
		if big > 2*small || big > 5 {
			t.Errorf("filter %+v: %.1f RCU for a page of 10 from 300 conversations vs %.1f from 12: cost grows with the org", f, big, small)
		}
	}
}

// meteredTable tells write units from read units: DynamoDB reports each
// request's consumed capacity, and Write is the only call that writes.
type meteredTable struct {
	table.Table
	mu      sync.Mutex
	writing bool
	w, r    float64
}

func (m *meteredTable) add(units float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writing {
		m.w += units
	} else {
		m.r += units
	}
}

func (m *meteredTable) Write(ctx context.Context, ops ...table.Op) error {
	m.mu.Lock()
	m.writing = true
	m.mu.Unlock()
	defer func() { m.mu.Lock(); m.writing = false; m.mu.Unlock() }()
	return m.Table.Write(ctx, ops...)
}

// take returns the write and read units since the last take.
func (m *meteredTable) take() (w, r float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, r, m.w, m.r = m.w, m.r, 0, 0
	return w, r
}

// A status of a sent reply costs at most 2 write units (found by the
// callback data WhatsApp echoes, or by its wamid), in DynamoDB Local's
// reported capacity.
func TestStatusWriteBudget(t *testing.T) {
	m := &meteredTable{}
	m.Table = dynamotest.NewTable(t, dynamo.WithCapacity(m.add))
	s := storage.New(m)
	ctx := context.Background()
	inboundConversation(t, s, "acme", "c1")
	at := outNow.Add(time.Minute)
	msg := outboundMessage("acme", "c1", "m1", at)
	if _, _, err := s.PutOutbound(ctx, msg, "", "", applyReply(at)); err != nil {
		t.Fatal(err)
	}
	m.take()
	if err := s.RecordSent(ctx, "acme", "c1", at, "m1", "wamid.1", at); err != nil {
		t.Fatal(err)
	}
	w, r := m.take()
	t.Logf("RecordSent (route, message and waiting statuses in one transaction): %.1f WCU, %.1f RCU", w, r)
	ref := inbox.RefOf(msg)
	for _, tt := range []struct {
		status inbox.Status
		ref    *inbox.MessageRef
	}{{inbox.StatusDelivered, &ref}, {inbox.StatusRead, nil}} {
		applied, err := s.ApplyStatus(ctx, "acme", tt.ref, inbox.StatusUpdate{WAMID: "wamid.1", Status: tt.status, Timestamp: at.Add(time.Second)})
		if err != nil || !applied {
			t.Fatalf("%s: applied %v, %v", tt.status, applied, err)
		}
		w, r := m.take()
		t.Logf("status %s (by callback data: %v): %.1f WCU, %.1f RCU", tt.status, tt.ref != nil, w, r)
		if w > 2 {
			t.Errorf("status %s costs %.1f write units, budget 2", tt.status, w)
		}
	}
}
