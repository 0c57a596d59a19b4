// Package timer is the embedded twin of EventBridge Scheduler's one-time
// schedules (schedule.Scheduler) for the local stack: schedules persist in
// a bbolt file, so a restart loses none, and when the timer starts it fires
// at once what came due while it was down. At the due time it sends the
// schedule's firing to a queue (the local schedule queue), as EventBridge
// sends it to SQS; the same schedule.Dispatcher consumes it on both sides.
//
// Delivery is at least once: the firing is sent first and the schedule
// forgotten after, so a crash between the two sends it again on restart.
package timer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/schedule"
)

var (
	schedulesBucket = []byte("schedules") // name -> stored
	dueBucket       = []byte("due")       // 8-byte unix nanos + name -> ""
)

type stored struct {
	At   int64  `json:"at"` // unix nanoseconds
	Body []byte `json:"body"`
}

// Options configure a Timer.
type Options struct {
	// DB keeps the schedules in this bbolt database (shared with others);
	// Path opens a file of its own instead, closed by Close.
	DB   *bolt.DB
	Path string
	// Now is the clock (tests move it). Default time.Now.
	Now func() time.Time
	// MaxWait bounds how long Run sleeps between checks, so a clock moved
	// by a test or by the host is noticed. Default 1 s.
	MaxWait time.Duration
	Logger  *slog.Logger
}

// Timer is a persisted schedule.Scheduler that delivers to a queue.
type Timer struct {
	db     *bolt.DB
	ownDB  bool
	target queue.Sender
	opts   Options
	wake   chan struct{}
	mu     sync.Mutex // one Fire at a time
}

var _ schedule.Scheduler = (*Timer)(nil)

// Open opens the timer's schedules and delivers firings to target.
func Open(target queue.Sender, opts Options) (*Timer, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	t := &Timer{db: opts.DB, target: target, opts: opts, wake: make(chan struct{}, 1)}
	if t.db == nil {
		if opts.Path == "" {
			return nil, fmt.Errorf("timer: need a DB or a Path")
		}
		db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return nil, fmt.Errorf("open timer %s: %w", opts.Path, err)
		}
		t.db, t.ownDB = db, true
	}
	err := t.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{schedulesBucket, dueBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("open timer: %w", err)
	}
	return t, nil
}

// Close closes the file the timer opened itself.
func (t *Timer) Close() error {
	if t.ownDB {
		return t.db.Close()
	}
	return nil
}

func dueKey(at int64, name string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(at)), name...)
}

// Set implements schedule.Scheduler.
func (t *Timer) Set(ctx context.Context, s schedule.Schedule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := s.Check()
	if err != nil {
		return err
	}
	at := s.At.Truncate(time.Second).UnixNano()
	v, _ := json.Marshal(stored{At: at, Body: body})
	err = t.db.Update(func(tx *bolt.Tx) error {
		if err := forget(tx, s.Name); err != nil {
			return err
		}
		if err := tx.Bucket(schedulesBucket).Put([]byte(s.Name), v); err != nil {
			return err
		}
		return tx.Bucket(dueBucket).Put(dueKey(at, s.Name), nil)
	})
	if err != nil {
		return fmt.Errorf("set schedule %s: %w", s.Name, err)
	}
	t.poke()
	return nil
}

// Delete implements schedule.Scheduler.
func (t *Timer) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := schedule.CheckName(name); err != nil {
		return err
	}
	if err := t.db.Update(func(tx *bolt.Tx) error { return forget(tx, name) }); err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}

func forget(tx *bolt.Tx, name string) error {
	v := tx.Bucket(schedulesBucket).Get([]byte(name))
	if v == nil {
		return nil
	}
	var old stored
	if err := json.Unmarshal(v, &old); err != nil {
		return fmt.Errorf("decode schedule %s: %w", name, err)
	}
	if err := tx.Bucket(dueBucket).Delete(dueKey(old.At, name)); err != nil {
		return err
	}
	return tx.Bucket(schedulesBucket).Delete([]byte(name))
}

func (t *Timer) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Fire sends every firing that is due at Now and forgets those schedules;
// it returns how many it sent. A schedule whose send fails stays and is
// tried again at the next Fire.
func (t *Timer) Fire(ctx context.Context) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now().UnixNano()
	type due struct {
		name string
		s    stored
	}
	var batch []due
	err := t.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dueBucket).Cursor()
		for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k[:8])) <= now; k, _ = c.Next() {
			name := string(k[8:])
			var s stored
			if err := json.Unmarshal(tx.Bucket(schedulesBucket).Get([]byte(name)), &s); err != nil {
				return fmt.Errorf("decode schedule %s: %w", name, err)
			}
			batch = append(batch, due{name, s})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fire schedules: %w", err)
	}
	sent := 0
	for _, d := range batch {
		if err := t.target.Send(ctx, queue.Outgoing{Body: d.s.Body}); err != nil {
			return sent, fmt.Errorf("fire schedule %s: %w", d.name, err)
		}
		sent++
		// Forget it unless it was set again meanwhile (then it is a new one).
		err := t.db.Update(func(tx *bolt.Tx) error {
			v := tx.Bucket(schedulesBucket).Get([]byte(d.name))
			var cur stored
			if v == nil || json.Unmarshal(v, &cur) != nil || cur.At != d.s.At || !bytes.Equal(cur.Body, d.s.Body) {
				return nil
			}
			return forget(tx, d.name)
		})
		if err != nil {
			return sent, fmt.Errorf("forget fired schedule %s: %w", d.name, err)
		}
	}
	return sent, nil
}

// Pending returns the schedules waiting, as the firings they will send,
// earliest first (the local stack's /debug/schedules lists them).
func (t *Timer) Pending() ([]schedule.Firing, error) {
	var out []schedule.Firing
	err := t.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dueBucket).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			var s stored
			var f schedule.Firing
			if err := json.Unmarshal(tx.Bucket(schedulesBucket).Get(k[8:]), &s); err != nil {
				return fmt.Errorf("decode schedule %s: %w", k[8:], err)
			}
			if err := json.Unmarshal(s.Body, &f); err != nil {
				return fmt.Errorf("decode firing of %s: %w", k[8:], err)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending schedules: %w", err)
	}
	return out, nil
}

// Next returns the earliest due time, and false when nothing is scheduled.
func (t *Timer) Next() (time.Time, bool) {
	var at int64
	var ok bool
	_ = t.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(dueBucket).Cursor().First(); k != nil {
			at, ok = int64(binary.BigEndian.Uint64(k[:8])), true
		}
		return nil
	})
	return time.Unix(0, at), ok
}

// Run fires schedules as they come due until ctx ends; what came due
// while the timer was not running fires at once.
func (t *Timer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		wait := t.opts.MaxWait
		n, err := t.Fire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			t.opts.Logger.ErrorContext(ctx, "timer: fire failed; will retry", "err", err)
		case n > 0:
			t.opts.Logger.DebugContext(ctx, "timer: fired", "schedules", n)
		}
		if next, ok := t.Next(); ok && err == nil {
			wait = min(wait, max(next.Sub(t.opts.Now()), 0))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}
