// Package storagetest runs storage tests against every table.Table
// implementation: the embedded bolt file always, and DynamoDB Local when
// WACRM_TEST_DYNAMODB_ENDPOINT is set (make test sets it).
package storagetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/table"
)

// Tables returns a fresh, empty table per implementation, by name.
func Tables(t *testing.T) map[string]func(t *testing.T) table.Table {
	return map[string]func(t *testing.T) table.Table{
		"bolt":   Bolt,
		"dynamo": Dynamo,
	}
}

// Bolt opens an empty bolt table in a temp dir, closed at the end of the test.
func Bolt(t *testing.T) table.Table {
	t.Helper()
	tb, err := boltstore.Open(filepath.Join(t.TempDir(), "wacrm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

// ForEachTable runs fn as a subtest per implementation, each on a fresh store.
func ForEachTable(t *testing.T, fn func(t *testing.T, s *storage.Store)) {
	for _, name := range []string{"bolt", "dynamo"} {
		t.Run(name, func(t *testing.T) {
			fn(t, storage.New(Tables(t)[name](t)))
		})
	}
}

// Fund credits org with an adjustment, as an operator would, so tests of
// other things can reply (replies are paid for).
func Fund(t testing.TB, s *storage.Store, org string, c billing.Credits) {
	t.Helper()
	_, err := s.UpdateAccount(context.Background(), org, func(a *billing.Account) error {
		_, err := a.Credit(billing.KindAdjustment, c, billing.Entry{Reason: "test funds"}, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
