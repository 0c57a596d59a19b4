package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
)

func TestAuditOfALocalFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wacrm.db")
	b, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := storage.New(b)
	storagetest.Fund(t, s, "acme", 5_000)
	b.Close()

	var out strings.Builder
	clean, err := run(&out, "acme", path, "", "", false)
	if err != nil || !clean || !strings.Contains(out.String(), "balance 5000 credits, 1 ledger entries") {
		t.Fatalf("clean file: %v %v\n%s", clean, err, out.String())
	}

	// A ledger entry written behind the account's back: the sum no longer
	// matches and the audit says so.
	b, _ = boltstore.Open(path)
	rogue := &struct {
		table.Keys
		billing.Entry
	}{Entry: billing.Entry{Org: "acme", Seq: 2, At: time.Now(), Kind: billing.KindAdjustment, Amount: 7, BalanceAfter: 5_007}}
	rogue.PK, rogue.SK = "LEDGER#acme", "E#2030-01-01T00:00:00.000000000Z#000000000002"
	if err := b.Write(context.Background(), table.Op{Put: rogue}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	out.Reset()
	clean, err = run(&out, "acme", path, "", "", false)
	if err != nil || clean || !strings.Contains(out.String(), "PROBLEMS") {
		t.Fatalf("tampered file: %v %v\n%s", clean, err, out.String())
	}
}
