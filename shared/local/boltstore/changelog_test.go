package boltstore

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/changes/changestest"
	"github.com/wacrm/wacrm/shared/table"
)

func TestChangesContract(t *testing.T) {
	changestest.Run(t, func(t *testing.T) changestest.Harness {
		path := filepath.Join(t.TempDir(), "wacrm.db")
		tb, err := Open(path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		var mu sync.Mutex
		cur := tb
		t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); cur.Close() })
		return changestest.Harness{
			Table: tb, Stream: tb,
			Restart: func(t *testing.T) (table.Table, changes.Stream) {
				mu.Lock()
				defer mu.Unlock()
				if err := cur.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				if cur, err = Open(path); err != nil {
					t.Fatalf("reopen: %v", err)
				}
				return cur, cur
			},
			Wait: 2 * time.Second,
		}
	})
}

func logLen(t *testing.T, tb *Table) int {
	t.Helper()
	n := 0
	if err := tb.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(changesBucket).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChangeLogTrimmedWhenEveryConsumerPassed(t *testing.T) {
	tb, _ := openTemp(t)
	ctx := t.Context()
	for _, c := range []string{"a", "b"} {
		if _, err := tb.Read(ctx, c, 10); err != nil { // registers both
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := tb.Write(ctx, table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: string(rune('a' + i))}, Text: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tb.Read(ctx, "a", 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("read: %d changes, %v", len(got), err)
	}
	if err := tb.Commit(ctx, "a", got[2].Position); err != nil {
		t.Fatal(err)
	}
	if n := logLen(t, tb); n != 3 {
		t.Errorf("after a passed everything: log holds %d, want 3 (b has not)", n)
	}
	if err := tb.Commit(ctx, "b", got[1].Position); err != nil {
		t.Fatal(err)
	}
	if n := logLen(t, tb); n != 1 {
		t.Errorf("after b passed two: log holds %d, want 1", n)
	}
}

func TestChangeLogRetention(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tb, err := Open(filepath.Join(t.TempDir(), "wacrm.db"), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if _, err := tb.Read(t.Context(), "away", 1); err != nil { // a consumer that never comes back
		t.Fatal(err)
	}
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "1"}, Text: "old"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(changes.Retention - time.Minute)
	mu.Unlock()
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "2"}, Text: "newer"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if n, err := tb.TrimChanges(); err != nil || n != 1 {
		t.Fatalf("trim: %d, %v; want the one change older than the retention", n, err)
	}
	got, err := tb.Read(t.Context(), "away", 10)
	if err != nil || len(got) != 1 || got[0].Key.SK != "2" {
		t.Errorf("after trim: %v, %v", got, err)
	}
}

func TestExpiryLeavesAChange(t *testing.T) {
	tb, _ := openTemp(t)
	if _, err := tb.Read(t.Context(), "c", 1); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute).Unix()
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "1", TTL: past}, Text: "gone"}}); err != nil {
		t.Fatal(err)
	}
	changed := tb.Changed()
	if n, err := tb.Sweep(); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	select {
	case <-changed:
	default:
		t.Error("sweep did not signal the change")
	}
	got, err := tb.Read(t.Context(), "c", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("read: %v, %v", got, err)
	}
	if c := got[1]; c.Event != changes.Remove || !c.Expired || c.New != nil || c.Old == nil {
		t.Errorf("expiry change: %+v", c)
	}
}

func TestWriteSignalsChange(t *testing.T) {
	tb, _ := openTemp(t)
	changed := tb.Changed()
	if err := tb.Write(t.Context(), table.Op{Check: &table.Key{PK: "n", SK: "1"}, Cond: table.NotExists()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
		t.Fatal("a write that changed nothing signalled")
	default:
	}
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "1"}, Text: "x"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("a write did not signal")
	}
}
