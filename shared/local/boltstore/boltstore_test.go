package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/table/tabletest"
)

func openTemp(t testing.TB) (*Table, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wacrm.db")
	tb, err := Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb, path
}

func TestContract(t *testing.T) {
	tabletest.Run(t, func(t *testing.T) table.Table {
		tb, _ := openTemp(t)
		return tb
	})
}

type note struct {
	table.Keys
	Text string `json:"text"`
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wacrm.db")
	tb, err := Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	err = tb.Write(t.Context(),
		table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "1", GSI1PK: "g", GSI1SK: "1"}, Text: "kept"}},
		table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "2"}, Text: "also kept"}},
	)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	tb, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer tb.Close()
	var got note
	if err := tb.Get(t.Context(), table.Key{PK: "n", SK: "1"}, &got); err != nil || got.Text != "kept" {
		t.Errorf("get after restart: got %+v, %v", got, err)
	}
	var list []note
	if _, err := tb.Query(t.Context(), table.Query{Index: table.GSI1, PK: "g"}, &list); err != nil || len(list) != 1 || list[0].Text != "kept" {
		t.Errorf("index after restart: got %+v, %v", list, err)
	}
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "n", SK: "2"}}, Cond: table.NotExists()}); !errors.Is(err, table.ErrConditionFailed) {
		t.Errorf("create over a restored item: got %v, want condition failure", err)
	}
}

func TestSecondOpenFails(t *testing.T) {
	_, path := openTemp(t)
	if tb, err := Open(path); err == nil {
		tb.Close()
		t.Fatal("second open of a file in use: no error")
	}
}

func TestSweepDeletesExpired(t *testing.T) {
	tb, _ := openTemp(t)
	past := time.Now().Add(-time.Hour).Unix()
	future := time.Now().Add(time.Hour).Unix()
	err := tb.Write(t.Context(),
		table.Op{Put: &note{Keys: table.Keys{PK: "s", SK: "old", GSI1PK: "g", GSI1SK: "old", TTL: past}}},
		table.Op{Put: &note{Keys: table.Keys{PK: "s", SK: "new", GSI1PK: "g", GSI1SK: "new", TTL: future}}},
		table.Op{Put: &note{Keys: table.Keys{PK: "s", SK: "moved", TTL: past}}},
	)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	// Re-put without a ttl: the old ttl entry must not delete it.
	if err := tb.Write(t.Context(), table.Op{Put: &note{Keys: table.Keys{PK: "s", SK: "moved"}}}); err != nil {
		t.Fatalf("write: %v", err)
	}
	n, err := tb.Sweep()
	if err != nil || n != 1 {
		t.Fatalf("sweep: deleted %d, %v; want 1", n, err)
	}
	counts := map[string]int{}
	tb.db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"items", "GSI1", "ttl"} {
			counts[name] = tx.Bucket([]byte(name)).Stats().KeyN
		}
		return nil
	})
	if got, want := fmt.Sprint(counts), "map[GSI1:1 items:2 ttl:1]"; got != want {
		t.Errorf("after sweep: got %s, want %s", got, want)
	}
}

func BenchmarkBoltWrite(b *testing.B) {
	tb, _ := openTemp(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		err := tb.Write(b.Context(), table.Op{
			Put:  &note{Keys: table.Keys{PK: fmt.Sprintf("bench#%d", i%100), SK: fmt.Sprintf("%08d", i), GSI1PK: "g", GSI1SK: fmt.Sprintf("%08d", i)}, Text: "hello"},
			Cond: table.NotExists(),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBoltQuery(b *testing.B) {
	tb, _ := openTemp(b)
	// 10,000 items in 10 partitions; each query reads one page of 20.
	for p := range 10 {
		ops := make([]table.Op, 0, 100)
		for i := range 1000 {
			ops = append(ops, table.Op{Put: &note{Keys: table.Keys{PK: fmt.Sprintf("p%d", p), SK: fmt.Sprintf("%06d", i), GSI1PK: fmt.Sprintf("g%d", p), GSI1SK: fmt.Sprintf("%06d", i)}, Text: "hello world"}})
			if len(ops) == 100 {
				if err := tb.Write(b.Context(), ops...); err != nil {
					b.Fatal(err)
				}
				ops = ops[:0]
			}
		}
	}
	for _, ix := range []table.Index{table.Primary, table.GSI1} {
		b.Run(fmt.Sprintf("page20/%s", map[table.Index]string{table.Primary: "table", table.GSI1: "GSI1"}[ix]), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				pk := fmt.Sprintf("p%d", i%10)
				if ix == table.GSI1 {
					pk = fmt.Sprintf("g%d", i%10)
				}
				var page []note
				if _, err := tb.Query(b.Context(), table.Query{Index: ix, PK: pk, SKFrom: fmt.Sprintf("%06d", i%900), Limit: 20}, &page); err != nil || len(page) != 20 {
					b.Fatalf("query: %d items, %v", len(page), err)
				}
			}
		})
	}
}
