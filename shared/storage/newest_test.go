package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/table"
)

// readMeter counts what a table is asked to read: Query calls and the items
// they return (both adapters), and DynamoDB Local's reported read units.
type readMeter struct {
	table.Table
	mu                    sync.Mutex
	queries, items, units float64
}

func (m *readMeter) Query(ctx context.Context, q table.Query, out any) (string, error) {
	before := reflect.ValueOf(out).Elem().Len()
	next, err := m.Table.Query(ctx, q, out)
	m.mu.Lock()
	m.queries++
	m.items += float64(reflect.ValueOf(out).Elem().Len() - before)
	m.mu.Unlock()
	return next, err
}

func (m *readMeter) addUnits(u float64) { m.mu.Lock(); m.units += u; m.mu.Unlock() }

func (m *readMeter) take() (queries, items, units float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	queries, items, units = m.queries, m.items, m.units
	m.queries, m.items, m.units = 0, 0, 0
	return
}

// The conversation view opens on its newest page at the cost of one page:
// in a conversation of 5,000 messages, ?order=desc's first page is one
// Query returning one page of items, and on DynamoDB Local it costs what the
// oldest page costs (walking oldest first to the newest would read 100).
func TestNewestMessagesPageCostsOnePage(t *testing.T) {
	const total, limit = 5000, 50
	adapters := map[string]func(t *testing.T, m *readMeter) table.Table{
		"bolt": func(t *testing.T, _ *readMeter) table.Table {
			tb, err := boltstore.Open(filepath.Join(t.TempDir(), "wacrm.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tb.Close() })
			return tb
		},
		"dynamo": func(t *testing.T, m *readMeter) table.Table {
			return dynamotest.NewTable(t, dynamo.WithCapacity(m.addUnits))
		},
	}
	for _, name := range []string{"bolt", "dynamo"} {
		t.Run(name, func(t *testing.T) {
			m := &readMeter{}
			m.Table = adapters[name](t, m)
			s := New(m)
			ctx := context.Background()
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			// Seeded straight into the table, a full transaction at a time:
			// 5,000 intakes would take minutes on DynamoDB Local.
			var ops []table.Op
			for i := range total {
				msg := &inbox.Message{Org: "acme", ConversationID: "c1", ID: fmt.Sprintf("m%05d", i), WAMID: fmt.Sprintf("wamid.%05d", i),
					Direction: inbox.Inbound, Type: "text", Text: "hello there", Timestamp: t0.Add(time.Duration(i) * time.Second)}
				ops = append(ops, table.Op{Put: newMessageItem(msg)})
				if len(ops) == table.MaxWriteOps || i == total-1 {
					if err := m.Write(ctx, ops...); err != nil {
						t.Fatal(err)
					}
					ops = ops[:0]
				}
			}
			m.take()

			oldest, _, err := s.Messages(ctx, "acme", "c1", "", limit)
			if err != nil {
				t.Fatal(err)
			}
			_, oldestItems, oldestUnits := m.take()
			if len(oldest) != limit || oldest[0].ID != "m00000" {
				t.Fatalf("oldest first: %d messages starting %q", len(oldest), oldest[0].ID)
			}

			newest, cursor, err := s.MessagesNewestFirst(ctx, "acme", "c1", "", limit)
			if err != nil {
				t.Fatal(err)
			}
			queries, items, units := m.take()
			t.Logf("newest page of %d from %d messages: %.0f query, %.0f items, %.1f RCU (oldest page: %.0f items, %.1f RCU)",
				limit, total, queries, items, units, oldestItems, oldestUnits)
			if queries != 1 || items != limit || units > oldestUnits {
				t.Errorf("newest page: %.0f queries, %.0f items, %.1f RCU; want 1 query of %d items costing no more than the oldest page's %.1f RCU",
					queries, items, units, limit, oldestUnits)
			}
			if len(newest) != limit || cursor == "" {
				t.Fatalf("newest first: %d messages, cursor %q", len(newest), cursor)
			}
			for i, msg := range newest {
				if want := fmt.Sprintf("m%05d", total-1-i); msg.ID != want {
					t.Fatalf("newest first: message %d is %s, want %s", i, msg.ID, want)
				}
			}

			older, _, err := s.MessagesNewestFirst(ctx, "acme", "c1", cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(older) != limit || older[0].ID != fmt.Sprintf("m%05d", total-1-limit) {
				t.Fatalf("the cursor goes back in time: %d messages starting %q", len(older), older[0].ID)
			}
			if _, _, err := s.Messages(ctx, "acme", "c1", cursor, limit); err == nil {
				t.Error("a newest-first cursor was accepted by the oldest-first list")
			}
		})
	}
}
