// Package boltstore implements table.Table in one local bbolt file that
// survives a restart: the embedded twin of the DynamoDB adapter.
//
// Layout: bucket "items" maps PK\x00SK to the item (an 8-byte big-endian ttl
// header, then the item as encoding/json wrote it). Each GSI is a bucket of
// empty values keyed gsiPK\x00gsiSK\x00PK\x00SK, holding only items that
// carry both of its keys; bucket "ttl" indexes expiring items by
// ttl\x00PK\x00SK for the sweeper. Indexes change in the same transaction as
// their item. Because \x00 separates key parts, keys may not contain it.
//
// The table's change stream (changes.Stream) lives in the same file: every
// write appends its changes to bucket "changes" (key: an 8-byte big-endian
// sequence number) in the same bolt transaction as the items, so a change
// exists if and only if its write does. Bucket "positions" holds each
// consumer's committed sequence number; changes every consumer has passed,
// and changes older than changes.Retention, are trimmed.
package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/table"
)

var (
	itemsBucket     = []byte("items")
	ttlBucket       = []byte("ttl")
	changesBucket   = []byte("changes")
	positionsBucket = []byte("positions")
)

// SweepInterval is how often expired items are deleted from the file.
// They are hidden as soon as their ttl passes (table.Expired); the sweep
// only reclaims the space.
const SweepInterval = time.Minute

// Table is a table.Table in one bbolt file. It is safe for concurrent use
// within one process; bbolt's file lock keeps other processes out.
type Table struct {
	db   *bolt.DB
	stop chan struct{}
	done sync.WaitGroup
	now  func() time.Time

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) after a write that left changes
}

var (
	_ table.Table      = (*Table)(nil)
	_ changes.Stream   = (*Table)(nil)
	_ changes.Notifier = (*Table)(nil)
)

// Open opens or creates the store at path, deletes expired items and
// starts the ttl sweeper.
func Open(path string, opts ...Option) (*Table, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range append([][]byte{itemsBucket, ttlBucket, changesBucket, positionsBucket}, indexBuckets()...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	t := &Table{db: db, stop: make(chan struct{}), now: time.Now, changed: make(chan struct{})}
	for _, opt := range opts {
		opt(t)
	}
	t.sweep()
	t.done.Add(1)
	go t.sweepLoop()
	return t, nil
}

// Close stops the sweeper and closes the file.
func (t *Table) Close() error {
	close(t.stop)
	t.done.Wait()
	if err := t.db.Close(); err != nil {
		return fmt.Errorf("close bolt store: %w", err)
	}
	return nil
}

func indexBuckets() [][]byte {
	names := make([][]byte, len(table.Indexes))
	for i, ix := range table.Indexes {
		names[i] = []byte(ix)
	}
	return names
}

// Get implements table.Table.
func (t *Table) Get(ctx context.Context, key table.Key, out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("get %s: out must be a non-nil pointer to a struct, got %T", key, out)
	}
	now := time.Now()
	return t.db.View(func(tx *bolt.Tx) error {
		doc := liveDoc(tx.Bucket(itemsBucket).Get(itemKey(key.PK, key.SK)), now)
		if doc == nil {
			return fmt.Errorf("get %s: %w", key, table.ErrNotFound)
		}
		rv.Elem().SetZero() // like a fresh read: no field survives from before
		if err := json.Unmarshal(doc, out); err != nil {
			return fmt.Errorf("get %s: decode: %w", key, err)
		}
		return nil
	})
}

// Query implements table.Table. It seeks to the start of the range and
// walks only the keys inside it.
func (t *Table) Query(ctx context.Context, q table.Query, out any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	limit, err := table.CheckQuery(q)
	if err != nil {
		return "", err
	}
	for _, s := range []string{q.PK, q.SKPrefix, q.SKFrom, q.SKTo} {
		if strings.IndexByte(s, 0) >= 0 {
			return "", fmt.Errorf("query %s %q: keys may not contain NUL", q.Index, q.PK)
		}
	}
	slice := reflect.ValueOf(out)
	if slice.Kind() != reflect.Pointer || slice.IsNil() || slice.Elem().Kind() != reflect.Slice {
		return "", fmt.Errorf("query %s %q: out must be a pointer to a slice, got %T", q.Index, q.PK, out)
	}
	slice = slice.Elem()
	var after []byte // the position to continue after, from the cursor
	if q.Cursor != "" {
		c, err := table.DecodeCursor(q.Cursor, q)
		if err != nil {
			return "", err
		}
		for _, s := range []string{c.IPK, c.ISK, c.PK, c.SK} {
			if strings.IndexByte(s, 0) >= 0 {
				return "", table.ErrBadCursor
			}
		}
		if q.Index == table.Primary {
			after = itemKey(c.PK, c.SK)
		} else {
			after = indexKey(c.IPK, c.ISK, c.PK, c.SK)
		}
	}

	now := time.Now()
	page := reflect.MakeSlice(slice.Type(), 0, min(limit, 128))
	var next string
	err = t.db.View(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		bucket := items
		if q.Index != table.Primary {
			bucket = tx.Bucket([]byte(q.Index))
		}
		r := newRange(q)
		c := bucket.Cursor()
		var k, v []byte
		if !q.Descending {
			start := r.low
			if after != nil {
				start = after
			}
			k, v = c.Seek(start)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			end := r.high
			if after != nil {
				end = after
			}
			if k, _ = c.Seek(end); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		step := c.Next
		if q.Descending {
			step = c.Prev
		}
		var last table.CursorKey
	scan:
		for n := 0; k != nil && bytes.HasPrefix(k, r.partition); k, v = step() {
			ik, ok := r.split(k, q.Index)
			switch {
			case !ok:
				return fmt.Errorf("query %s %q: corrupt index key %q", q.Index, q.PK, k)
			case r.before(ik.isk, q.Descending): // outside the range on the side we come from
				continue
			case r.past(ik.isk, q.Descending):
				break scan
			}
			doc := v
			if q.Index != table.Primary {
				doc = items.Get(itemKey(ik.pk, ik.sk))
			}
			if doc = liveDoc(doc, now); doc == nil {
				continue
			}
			if n == limit { // one more live item exists: the page has a next
				next = table.EncodeCursor(last)
				break
			}
			elem, err := decodeElem(doc, slice.Type().Elem())
			if err != nil {
				return fmt.Errorf("query %s %q: decode %s|%s: %w", q.Index, q.PK, ik.pk, ik.sk, err)
			}
			page = reflect.Append(page, elem)
			last = table.CursorKey{PK: ik.pk, SK: ik.sk}
			if q.Index != table.Primary {
				last.IPK, last.ISK = q.PK, ik.isk
			}
			n++
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slice.Set(reflect.AppendSlice(slice, page))
	return next, nil
}

// decodeElem decodes doc into a new value of type typ (a struct or a
// pointer to one).
func decodeElem(doc []byte, typ reflect.Type) (reflect.Value, error) {
	if typ.Kind() == reflect.Pointer {
		v := reflect.New(typ.Elem())
		return v, json.Unmarshal(doc, v.Interface())
	}
	v := reflect.New(typ)
	return v.Elem(), json.Unmarshal(doc, v.Interface())
}

// Write implements table.Table: one bbolt transaction that checks every
// condition before it changes anything.
func (t *Table) Write(ctx context.Context, ops ...table.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := table.CheckOps(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	docs := make([][]byte, len(ops))
	for i, op := range ops {
		key, _ := op.Key()
		if strings.IndexByte(key.PK, 0) >= 0 || strings.IndexByte(key.SK, 0) >= 0 {
			return fmt.Errorf("write op %d %s: keys may not contain NUL", i, key)
		}
		if op.Put == nil {
			continue
		}
		keys := op.Put.TableKeys()
		for _, ix := range table.Indexes {
			pk, sk, _ := keys.IndexKey(ix)
			if strings.IndexByte(pk, 0) >= 0 || strings.IndexByte(sk, 0) >= 0 {
				return fmt.Errorf("write op %d %s: %s keys may not contain NUL", i, key, ix)
			}
		}
		doc, err := json.Marshal(op.Put)
		if err != nil {
			return fmt.Errorf("write op %d: encode %s: %w", i, key, err)
		}
		docs[i] = withTTL(keys.TTL, doc)
	}
	now := time.Now()
	var logged int
	err := t.db.Update(func(tx *bolt.Tx) error {
		items := tx.Bucket(itemsBucket)
		olds := make([][]byte, len(ops))
		for i, op := range ops {
			key, _ := op.Key()
			olds[i] = liveDoc(items.Get(itemKey(key.PK, key.SK)), now)
			ok, err := holds(op.Cond, olds[i])
			if err != nil {
				return fmt.Errorf("write op %d %s: %w", i, key, err)
			}
			if !ok {
				return &table.ConditionError{Op: i, Key: key}
			}
		}
		log := changeLog{tx: tx, now: t.now()}
		for i, op := range ops {
			key, _ := op.Key()
			var err error
			switch {
			case op.Put != nil:
				if err = put(tx, op.Put.TableKeys(), docs[i]); err == nil {
					err = log.put(key, olds[i], docs[i][8:])
				}
			case op.Delete != nil:
				if err = remove(tx, key); err == nil {
					err = log.remove(key, olds[i], false)
				}
			}
			if err != nil {
				return fmt.Errorf("write op %d %s: %w", i, key, err)
			}
		}
		logged = log.n
		return nil
	})
	if err != nil {
		var ce *table.ConditionError
		if errors.As(err, &ce) {
			return ce
		}
		return fmt.Errorf("write %d ops: %w", len(ops), err)
	}
	if logged > 0 {
		t.signal()
	}
	return nil
}

// holds evaluates a condition against the live item doc (nil: absent).
func holds(c table.Cond, doc []byte) (bool, error) {
	switch c.Kind {
	case table.CondNone:
		return true, nil
	case table.CondNotExists:
		return doc == nil, nil
	case table.CondExists:
		return doc != nil, nil
	case table.CondVersion:
		if c.N == 0 {
			return doc == nil, nil
		}
		if doc == nil {
			return false, nil
		}
		order, present, err := compareAttr(doc, table.AttrVersion, c.N)
		return present && err == nil && order == 0, nil
	case table.CondLess:
		if doc == nil {
			return true, nil
		}
		order, present, err := compareAttr(doc, c.Attr, c.N)
		if !present {
			return true, nil
		}
		// Like DynamoDB, a non-number attribute is never less than a number.
		return err == nil && order < 0, nil
	}
	return false, fmt.Errorf("unknown condition kind %d", c.Kind)
}

// compareAttr compares the top-level number attribute attr of doc with n.
func compareAttr(doc []byte, attr string, n int64) (order int, present bool, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		return 0, false, err
	}
	raw, ok := fields[attr]
	if !ok {
		return 0, false, nil
	}
	var num json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &num) != nil || num == "" {
		return 0, true, fmt.Errorf("attribute %s is not a number", attr)
	}
	if i, err := strconv.ParseInt(string(num), 10, 64); err == nil {
		return cmp.Compare(i, n), true, nil
	}
	f, err := strconv.ParseFloat(string(num), 64)
	return cmp.Compare(f, float64(n)), true, err
}

func put(tx *bolt.Tx, keys *table.Keys, doc []byte) error {
	k := itemKey(keys.PK, keys.SK)
	if err := unindex(tx, k, tx.Bucket(itemsBucket).Get(k)); err != nil {
		return err
	}
	if err := tx.Bucket(itemsBucket).Put(k, doc); err != nil {
		return err
	}
	for _, ix := range table.Indexes {
		if ipk, isk, ok := keys.IndexKey(ix); ok {
			if err := tx.Bucket([]byte(ix)).Put(indexKey(ipk, isk, keys.PK, keys.SK), []byte{}); err != nil {
				return err
			}
		}
	}
	if keys.TTL > 0 {
		return tx.Bucket(ttlBucket).Put(ttlKey(keys.TTL, k), []byte{})
	}
	return nil
}

func remove(tx *bolt.Tx, key table.Key) error {
	k := itemKey(key.PK, key.SK)
	if err := unindex(tx, k, tx.Bucket(itemsBucket).Get(k)); err != nil {
		return err
	}
	return tx.Bucket(itemsBucket).Delete(k)
}

// unindex removes the index entries of the stored item doc at k, if any.
func unindex(tx *bolt.Tx, k, doc []byte) error {
	if doc == nil {
		return nil
	}
	var old table.Keys
	if err := json.Unmarshal(doc[8:], &old); err != nil {
		return fmt.Errorf("decode stored keys: %w", err)
	}
	for _, ix := range table.Indexes {
		if ipk, isk, ok := old.IndexKey(ix); ok {
			if err := tx.Bucket([]byte(ix)).Delete(indexKey(ipk, isk, old.PK, old.SK)); err != nil {
				return err
			}
		}
	}
	if ttl := binary.BigEndian.Uint64(doc[:8]); ttl > 0 {
		return tx.Bucket(ttlBucket).Delete(ttlKey(int64(ttl), k))
	}
	return nil
}

// Sweep deletes the items whose ttl has passed, as DynamoDB's TTL does
// eventually, and returns how many it deleted.
func (t *Table) Sweep() (int, error) {
	now := time.Now()
	var n int
	err := t.db.Update(func(tx *bolt.Tx) error {
		ttls := tx.Bucket(ttlBucket)
		var expired [][]byte
		c := ttls.Cursor()
		for k, _ := c.First(); k != nil && table.Expired(int64(binary.BigEndian.Uint64(k[:8])), now); k, _ = c.Next() {
			expired = append(expired, bytes.Clone(k))
		}
		log := changeLog{tx: tx, now: t.now()}
		for _, k := range expired {
			item := k[8:]
			doc := tx.Bucket(itemsBucket).Get(item)
			if doc != nil && liveDoc(doc, now) == nil {
				if err := unindex(tx, item, doc); err != nil {
					return err
				}
				if err := tx.Bucket(itemsBucket).Delete(item); err != nil {
					return err
				}
				pk, sk, _ := bytes.Cut(item, []byte{0})
				if err := log.remove(table.Key{PK: string(pk), SK: string(sk)}, doc[8:], true); err != nil {
					return err
				}
				n++
			}
			if err := ttls.Delete(k); err != nil { // stale entry or already gone
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep expired items: %w", err)
	}
	if n > 0 {
		t.signal()
	}
	return n, nil
}

func (t *Table) sweepLoop() {
	defer t.done.Done()
	tick := time.NewTicker(SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.sweep()
		}
	}
}

func (t *Table) sweep() {
	if n, err := t.Sweep(); err != nil {
		slog.Warn("boltstore: ttl sweep failed", "err", err)
	} else if n > 0 {
		slog.Debug("boltstore: ttl sweep", "deleted", n)
	}
	if n, err := t.TrimChanges(); err != nil {
		slog.Warn("boltstore: change log trim failed", "err", err)
	} else if n > 0 {
		slog.Debug("boltstore: change log trim", "deleted", n)
	}
}

// liveDoc returns the JSON of a stored value, or nil when there is none or
// its ttl has passed.
func liveDoc(stored []byte, now time.Time) []byte {
	if len(stored) < 8 || table.Expired(int64(binary.BigEndian.Uint64(stored[:8])), now) {
		return nil
	}
	return stored[8:]
}

func withTTL(ttl int64, doc []byte) []byte {
	out := make([]byte, 8, 8+len(doc))
	binary.BigEndian.PutUint64(out, uint64(max(ttl, 0)))
	return append(out, doc...)
}

func itemKey(pk, sk string) []byte {
	k := make([]byte, 0, len(pk)+1+len(sk))
	k = append(k, pk...)
	k = append(k, 0)
	return append(k, sk...)
}

func indexKey(ipk, isk, pk, sk string) []byte {
	k := make([]byte, 0, len(ipk)+len(isk)+len(pk)+len(sk)+3)
	for i, s := range []string{ipk, isk, pk, sk} {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, s...)
	}
	return k
}

func ttlKey(ttl int64, item []byte) []byte {
	k := make([]byte, 8, 8+len(item))
	binary.BigEndian.PutUint64(k, uint64(ttl))
	return append(k, item...)
}

// keyRange is a query's key range inside one index partition.
type keyRange struct {
	partition []byte // every key of the partition starts with it
	low, high []byte // seek targets: first key in range, first key after it
	q         table.Query
}

func newRange(q table.Query) keyRange {
	p := append([]byte(q.PK), 0)
	r := keyRange{partition: p, q: q}
	r.low = append(bytes.Clone(p), q.SKFrom+q.SKPrefix...) // at most one is set
	// Past the partition by default: PK\x01 sorts after every PK\x00...
	r.high = append([]byte(q.PK), 1)
	switch {
	case q.SKTo != "":
		// \x01 after the bound sorts after every key whose sort key equals
		// it (a NUL follows in index keys) and before every longer one.
		r.high = append(append(bytes.Clone(p), q.SKTo...), 1)
	case q.SKPrefix != "":
		if succ := prefixEnd([]byte(q.SKPrefix)); succ != nil {
			r.high = append(bytes.Clone(p), succ...)
		}
	}
	return r
}

// prefixEnd returns the smallest string greater than every string with
// this prefix, or nil if there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

type splitKey struct{ isk, pk, sk string }

// split parses a key of the partition into the index sort key and the
// item's primary key.
func (r keyRange) split(k []byte, ix table.Index) (splitKey, bool) {
	rest := string(k[len(r.partition):])
	if ix == table.Primary {
		return splitKey{isk: rest, pk: r.q.PK, sk: rest}, true
	}
	parts := strings.Split(rest, "\x00")
	if len(parts) != 3 {
		return splitKey{}, false
	}
	return splitKey{isk: parts[0], pk: parts[1], sk: parts[2]}, true
}

// before reports whether index sort key isk lies outside the range on the
// side the walk starts from; past, on the side it ends at.
func (r keyRange) before(isk string, descending bool) bool {
	if descending {
		return r.aboveHigh(isk)
	}
	return r.belowLow(isk)
}

func (r keyRange) past(isk string, descending bool) bool {
	if descending {
		return r.belowLow(isk)
	}
	return r.aboveHigh(isk)
}

func (r keyRange) belowLow(isk string) bool {
	if r.q.SKPrefix != "" {
		return isk < r.q.SKPrefix
	}
	return isk < r.q.SKFrom
}

func (r keyRange) aboveHigh(isk string) bool {
	if r.q.SKPrefix != "" {
		return isk > r.q.SKPrefix && !strings.HasPrefix(isk, r.q.SKPrefix)
	}
	return r.q.SKTo != "" && isk > r.q.SKTo
}
