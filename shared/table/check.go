package table

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Helpers shared by the implementations, so that they reject the same
// requests, hide the same items and issue cursors of the same shape.

// DefaultLimit is the page size of a Query whose Limit is 0.
const DefaultLimit = 100

// Expired reports whether an item with this ttl counts as deleted at now.
// DynamoDB removes expired items lazily (within days), so implementations
// hide them from Get, Query and conditions as soon as the ttl has passed.
func Expired(ttl int64, now time.Time) bool {
	return ttl > 0 && ttl < now.Unix()
}

// CheckOps rejects a Write that no implementation may apply: too many ops,
// an op that is not exactly one of Put/Delete/Check, an empty key, two ops
// on one key, or a condition without the attribute it needs.
func CheckOps(ops []Op) error {
	if len(ops) > MaxWriteOps {
		return fmt.Errorf("write of %d ops: at most %d allowed", len(ops), MaxWriteOps)
	}
	seen := make(map[Key]int, len(ops))
	for i, op := range ops {
		key, err := op.Key()
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		if key.PK == "" || key.SK == "" {
			return fmt.Errorf("op %d: empty key %q", i, key)
		}
		if j, dup := seen[key]; dup {
			return fmt.Errorf("ops %d and %d both address %s: at most one op per key", j, i, key)
		}
		seen[key] = i
		switch op.Cond.Kind {
		case CondNone, CondNotExists, CondExists, CondVersion:
		case CondLess:
			if op.Cond.Attr == "" {
				return fmt.Errorf("op %d: condition kind %d needs an attribute", i, op.Cond.Kind)
			}
		default:
			return fmt.Errorf("op %d: unknown condition kind %d", i, op.Cond.Kind)
		}
	}
	return nil
}

// Key returns the key the op addresses, or an error unless exactly one of
// Put, Delete and Check is set.
func (op Op) Key() (Key, error) {
	var key Key
	n := 0
	if op.Put != nil {
		key = op.Put.TableKeys().Key()
		n++
	}
	if op.Delete != nil {
		key = *op.Delete
		n++
	}
	if op.Check != nil {
		key = *op.Check
		n++
	}
	if n != 1 {
		return Key{}, errors.New("exactly one of Put, Delete and Check must be set")
	}
	return key, nil
}

// CheckQuery rejects a malformed query and returns its page size.
func CheckQuery(q Query) (limit int, err error) {
	switch q.Index {
	case Primary, GSI1, GSI2, GSI3, GSI4:
	default:
		return 0, fmt.Errorf("query: unknown index %q", q.Index)
	}
	if q.PK == "" {
		return 0, errors.New("query: empty partition key")
	}
	if q.SKPrefix != "" && (q.SKFrom != "" || q.SKTo != "") {
		return 0, errors.New("query: SKPrefix excludes SKFrom and SKTo")
	}
	if q.SKFrom != "" && q.SKTo != "" && q.SKFrom > q.SKTo {
		return 0, fmt.Errorf("query: SKFrom %q after SKTo %q", q.SKFrom, q.SKTo)
	}
	if q.Limit < 0 {
		return 0, fmt.Errorf("query: negative limit %d", q.Limit)
	}
	if q.Limit == 0 {
		return DefaultLimit, nil
	}
	return q.Limit, nil
}

// CursorKey is a position in an index: the index keys and primary key of
// the last item a page returned. Primary-index cursors leave IPK/ISK empty.
type CursorKey struct {
	IPK string `json:"ipk,omitempty"`
	ISK string `json:"isk,omitempty"`
	PK  string `json:"pk"`
	SK  string `json:"sk"`
}

// CursorAt returns the position of item k in index ix.
func CursorAt(k *Keys, ix Index) CursorKey {
	c := CursorKey{PK: k.PK, SK: k.SK}
	if ix != Primary {
		c.IPK, c.ISK, _ = k.IndexKey(ix)
	}
	return c
}

// EncodeCursor makes the opaque cursor for a position.
func EncodeCursor(c CursorKey) string {
	b, _ := json.Marshal(c) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor and checks it belongs to query q (same index
// and partition); anything else is ErrBadCursor.
func DecodeCursor(s string, q Query) (CursorKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return CursorKey{}, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	var c CursorKey
	if err := json.Unmarshal(b, &c); err != nil {
		return CursorKey{}, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	if c.PK == "" || c.SK == "" {
		return CursorKey{}, fmt.Errorf("%w: no key", ErrBadCursor)
	}
	if q.Index == Primary {
		if c.IPK != "" || c.ISK != "" || c.PK != q.PK {
			return CursorKey{}, fmt.Errorf("%w: not from this partition", ErrBadCursor)
		}
	} else if c.IPK != q.PK || c.ISK == "" {
		return CursorKey{}, fmt.Errorf("%w: not from this index partition", ErrBadCursor)
	}
	if q.SKPrefix != "" && !strings.HasPrefix(c.sortKey(q.Index), q.SKPrefix) {
		return CursorKey{}, fmt.Errorf("%w: not from this list", ErrBadCursor)
	}
	return c, nil
}

// sortKey is the cursor's position in index ix's sort order.
func (c CursorKey) sortKey(ix Index) string {
	if ix == Primary {
		return c.SK
	}
	return c.ISK
}

// Position says where cursor c lies against q's sort-key range in the
// direction q reads: -1 before the range starts, 0 inside it, 1 past its
// end. A range bound that moves with the clock ("the last 2 hours") can
// leave a cursor from an earlier page behind: before the start, the query
// reads the range from its start; past the end, nothing is left.
func (q Query) Position(c CursorKey) int {
	sk := c.sortKey(q.Index)
	low := q.SKFrom != "" && sk < q.SKFrom
	high := q.SKTo != "" && sk > q.SKTo
	switch {
	case !low && !high:
		return 0
	case low != q.Descending:
		return -1
	}
	return 1
}
