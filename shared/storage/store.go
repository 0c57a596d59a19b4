package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/table"
)

// Store is wacrm's storage on one table.
type Store struct {
	t   table.Table
	now func() time.Time
	// accounts holds a lock per org: see contended.
	accounts sync.Map
}

// New returns a Store on t.
func New(t table.Table) *Store { return &Store{t: t, now: time.Now} }

// WithClock sets the clock (tests).
func (s *Store) WithClock(now func() time.Time) *Store { s.now = now; return s }

// maxAttempts bounds optimistic-concurrency retries on one item.
const maxAttempts = 16

// update reads the item at key into it (zero when absent and create is
// true), calls mutate, and writes it back only if nobody wrote in between,
// retrying on conflict. extra ops are written in the same transaction.
func (s *Store) update(ctx context.Context, key table.Key, it table.Item, create bool, mutate func(exists bool) ([]table.Op, error)) error {
	for range maxAttempts {
		reflect.ValueOf(it).Elem().SetZero() // decode each attempt into a clean item
		err := s.t.Get(ctx, key, it)
		exists := err == nil
		if err != nil && !errors.Is(err, table.ErrNotFound) {
			return fmt.Errorf("get %s: %w", key, err)
		}
		if !exists && !create {
			return apperr.Wrap(err, apperr.NotFound, "Not found.")
		}
		ver := it.TableKeys().Ver
		extra, err := mutate(exists)
		if err != nil {
			return err
		}
		it.TableKeys().Ver = ver + 1
		ops := append([]table.Op{{Put: it, Cond: table.Version(ver)}}, extra...)
		err = s.t.Write(ctx, ops...)
		if table.FailedOp(err) == 0 || errors.Is(err, table.ErrConflict) {
			continue // someone else wrote first: read again
		}
		return err
	}
	return fmt.Errorf("update %s: too much contention", key)
}

// --- counters ---

type counterItem struct {
	table.Keys
	N int64 `json:"n"`
}

// Peek implements integration.Counter.
func (s *Store) Peek(ctx context.Context, name string) (int64, error) {
	var it counterItem
	err := s.t.Get(ctx, counterKey(name), &it)
	if errors.Is(err, table.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get counter %s: %w", name, err)
	}
	return it.N, nil
}

// advance is the write that takes turn seq of a counter: it fails if the
// turn was taken already. The counter's version is its value.
func advance(name string, seq int64) table.Op {
	it := &counterItem{N: seq + 1}
	k := counterKey(name)
	it.PK, it.SK, it.Ver = k.PK, k.SK, seq+1
	return table.Op{Put: it, Cond: table.Version(seq)}
}

// --- helpers ---

func notFound(err error, what, id string) error {
	if errors.Is(err, table.ErrNotFound) {
		return apperr.Wrap(err, apperr.NotFound, "The %s %s was not found.", what, id)
	}
	return fmt.Errorf("get %s %s: %w", what, id, err)
}

// Cursors handed to API clients are bound to the query they came from, so a
// cursor cannot be replayed against another partition (another org).
type pageCursor struct {
	Q string `json:"q"`
	C string `json:"c"`
}

func scope(q table.Query) string {
	s := string(q.Index) + "\x00" + q.PK
	if q.Descending { // a cursor pages on in the direction it came from
		s += "\x00desc"
	}
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

func encodeCursor(q table.Query, next string) string {
	if next == "" {
		return ""
	}
	b, _ := json.Marshal(pageCursor{Q: scope(q), C: next})
	return base64.RawURLEncoding.EncodeToString(b)
}

// queryPage runs q, whose cursor came from a client: a cursor the table
// refuses (forged, or edited to point elsewhere) is the client's mistake.
func (s *Store) queryPage(ctx context.Context, q table.Query, out any) (string, error) {
	next, err := s.t.Query(ctx, q, out)
	if errors.Is(err, table.ErrBadCursor) {
		return "", apperr.Wrap(err, apperr.Invalid, "The cursor is not valid for this list.")
	}
	return next, err
}

func decodeCursor(q table.Query, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	var c pageCursor
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Q != scope(q) || c.C == "" {
		return "", apperr.E(apperr.Invalid, "The cursor is not valid for this list.")
	}
	return c.C, nil
}
