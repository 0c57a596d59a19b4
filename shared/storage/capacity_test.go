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
