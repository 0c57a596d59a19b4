package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/table"
)

// loggedChange is a change as the "changes" bucket keeps it; its sequence
// number is the bucket key.
type loggedChange struct {
	Event   changes.Event `json:"e"`
	Key     table.Key     `json:"k"`
	Old     changes.Image `json:"o,omitempty"`
	New     changes.Image `json:"n,omitempty"`
	Time    int64         `json:"t"` // unix nanoseconds
	Expired bool          `json:"x,omitempty"`
}

// changeLog appends the changes of one write transaction.
type changeLog struct {
	tx  *bolt.Tx
	now time.Time
	n   int
}

// put logs a put of doc over old (nil: absent). Like DynamoDB Streams, a
// put that leaves the item as it was leaves no change.
func (l *changeLog) put(key table.Key, old, doc []byte) error {
	if old == nil {
		return l.append(loggedChange{Event: changes.Insert, Key: key, New: bytes.Clone(doc)})
	}
	if sameJSON(old, doc) {
		return nil
	}
	return l.append(loggedChange{Event: changes.Modify, Key: key, Old: bytes.Clone(old), New: bytes.Clone(doc)})
}

// remove logs the deletion of old; deleting nothing leaves no change.
func (l *changeLog) remove(key table.Key, old []byte, expired bool) error {
	if old == nil {
		return nil
	}
	return l.append(loggedChange{Event: changes.Remove, Key: key, Old: bytes.Clone(old), Expired: expired})
}

func (l *changeLog) append(c loggedChange) error {
	b := l.tx.Bucket(changesBucket)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("change log sequence: %w", err)
	}
	c.Time = l.now.UnixNano()
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode change of %s: %w", c.Key, err)
	}
	if err := b.Put(seqKey(seq), v); err != nil {
		return fmt.Errorf("log change of %s: %w", c.Key, err)
	}
	l.n++
	return nil
}

// sameJSON reports whether two JSON objects hold the same attributes.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Positions are the sequence numbers in decimal.
func formatPosition(seq uint64) string { return strconv.FormatUint(seq, 10) }

func parsePosition(p string) (uint64, error) {
	seq, err := strconv.ParseUint(p, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: %q", changes.ErrBadPosition, p)
	}
	return seq, nil
}

// Read implements changes.Stream. A consumer reading for the first time is
// registered at the start of the log, so trimming waits for it.
func (t *Table) Read(ctx context.Context, consumer string, limit int) ([]changes.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if consumer == "" || limit <= 0 {
		return nil, fmt.Errorf("read changes: need a consumer name and a positive limit (got %q, %d)", consumer, limit)
	}
	var after uint64
	err := t.db.View(func(tx *bolt.Tx) error {
		p := tx.Bucket(positionsBucket).Get([]byte(consumer))
		if p == nil {
			return errUnregistered
		}
		after = binary.BigEndian.Uint64(p)
		return nil
	})
	if err == errUnregistered {
		err = t.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(positionsBucket)
			if p := b.Get([]byte(consumer)); p != nil {
				after = binary.BigEndian.Uint64(p)
				return nil
			}
			return b.Put([]byte(consumer), seqKey(0))
		})
	}
	if err != nil {
		return nil, fmt.Errorf("read changes for %s: %w", consumer, err)
	}
	var out []changes.Change
	err = t.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(changesBucket).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var lc loggedChange
			if err := json.Unmarshal(v, &lc); err != nil {
				return fmt.Errorf("decode change %x: %w", k, err)
			}
			pos := formatPosition(binary.BigEndian.Uint64(k))
			out = append(out, changes.Change{
				ID: pos, Position: pos, Event: lc.Event, Key: lc.Key,
				Old: lc.Old, New: lc.New, Time: time.Unix(0, lc.Time).UTC(), Expired: lc.Expired,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read changes for %s: %w", consumer, err)
	}
	return out, nil
}

var errUnregistered = fmt.Errorf("consumer not registered")

// Commit implements changes.Stream, and trims the changes every consumer
// has passed.
func (t *Table) Commit(ctx context.Context, consumer, position string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	seq, err := parsePosition(position)
	if err != nil {
		return err
	}
	err = t.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(changesBucket).Sequence() < seq {
			return fmt.Errorf("%w: %s was never issued", changes.ErrBadPosition, position)
		}
		b := tx.Bucket(positionsBucket)
		if p := b.Get([]byte(consumer)); p != nil && binary.BigEndian.Uint64(p) >= seq {
			return nil
		}
		if err := b.Put([]byte(consumer), seqKey(seq)); err != nil {
			return err
		}
		_, err := trimPassed(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("commit %s at %s: %w", consumer, position, err)
	}
	return nil
}

// trimPassed deletes the changes every registered consumer has committed.
func trimPassed(tx *bolt.Tx) (int, error) {
	var low uint64
	first := true
	err := tx.Bucket(positionsBucket).ForEach(func(_, v []byte) error {
		if p := binary.BigEndian.Uint64(v); first || p < low {
			low, first = p, false
		}
		return nil
	})
	if err != nil || first {
		return 0, err
	}
	return deleteWhile(tx, func(seq uint64, _ []byte) bool { return seq <= low })
}

// deleteWhile deletes changes from the oldest on while keep says so.
func deleteWhile(tx *bolt.Tx, drop func(seq uint64, v []byte) bool) (int, error) {
	b := tx.Bucket(changesBucket)
	var doomed [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && drop(binary.BigEndian.Uint64(k), v); k, v = c.Next() {
		doomed = append(doomed, bytes.Clone(k))
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// TrimChanges deletes the changes every consumer has passed and those
// older than changes.Retention (as DynamoDB Streams does: a consumer away
// for longer misses them). The sweeper calls it every SweepInterval.
func (t *Table) TrimChanges() (int, error) {
	cutoff := t.now().Add(-changes.Retention).UnixNano()
	var n int
	err := t.db.Update(func(tx *bolt.Tx) error {
		passed, err := trimPassed(tx)
		if err != nil {
			return err
		}
		old, err := deleteWhile(tx, func(_ uint64, v []byte) bool {
			var lc struct {
				Time int64 `json:"t"`
			}
			return json.Unmarshal(v, &lc) == nil && lc.Time < cutoff
		})
		n = passed + old
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trim change log: %w", err)
	}
	return n, nil
}

// Changed implements changes.Notifier.
func (t *Table) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

func (t *Table) signal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	close(t.changed)
	t.changed = make(chan struct{})
}

// Option configures Open.
type Option func(*Table)

// WithClock sets the clock that stamps changes and ages them for trimming
// (tests move it). Item ttls still follow the wall clock.
func WithClock(now func() time.Time) Option {
	return func(t *Table) { t.now = now }
}
