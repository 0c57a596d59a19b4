// Package memqueue is the embedded twin of an SQS standard queue with a
// redrive policy, for the local stack: at-least-once delivery, visibility
// timeouts, per-message failure, receive counts, a dead-letter queue and
// redrive, optionally persisted in a bbolt file so queued messages survive a
// restart. Delivery order is not guaranteed, as on SQS.
package memqueue

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/queue"
)

// Options configure a Queue. Zero values take the defaults noted.
type Options struct {
	// VisibilityTimeout hides a received message until it is deleted or
	// the timeout passes; it also bounds how long a handler may run.
	// Default 30 s.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is the redrive limit: a message received this many
	// times without being deleted goes to DeadLetter on its next receive
	// (as on SQS). Only used with DeadLetter. Default queue.MaxReceiveCount.
	MaxReceiveCount int
	// BatchSize is the most messages handed to one handler call. Default 10.
	BatchSize int
	// BatchWindow is how long Start gathers messages for a batch once the
	// first one is there (Lambda's MaximumBatchingWindow). Default 0.
	BatchWindow time.Duration
	// Concurrency is the number of handler calls Start runs at once.
	// Default 1.
	Concurrency int
	// DeadLetter receives the messages that exceed MaxReceiveCount. Without
	// it a failing message is retried for ever, as on SQS without a redrive
	// policy.
	DeadLetter *Queue
	// DB persists the queue in this bbolt database (several queues may
	// share one). Only with Open.
	DB *bolt.DB
	// Path persists the queue in a bbolt file of its own, opened by Open
	// and closed by Close. Only with Open.
	Path string
	// Logger reports handler panics and persistence errors; slog.Default()
	// when nil.
	Logger *slog.Logger
}

// Queue is an in-process SQS-like standard queue. It implements
// queue.Sender. Safe for concurrent use.
type Queue struct {
	name   string
	opts   Options
	db     *bolt.DB
	ownDB  bool
	bucket []byte
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	order   byVisibleAt   // every entry, earliest VisibleAt first
	changed chan struct{} // closed (and replaced) when a message becomes visible early
	closed  bool
}

// entry is one stored message. Its JSON form is what bbolt keeps.
type entry struct {
	ID           string            `json:"id"`
	Body         []byte            `json:"body"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	ReceiveCount int               `json:"receiveCount"`
	SentAt       time.Time         `json:"sentAt"`
	VisibleAt    time.Time         `json:"visibleAt"`
	InFlight     bool              `json:"inFlight"`

	receipt string // of the latest receive; deletes with older ones do nothing
	index   int    // in Queue.order
}

// Delivery is a received message and the receipt that deletes it.
type Delivery struct {
	queue.Message
	Receipt string
}

// Stats counts a queue's messages like SQS's approximate counters.
type Stats struct {
	Visible  int // ready to be received
	Delayed  int // sent with a delay that has not passed yet
	InFlight int // received, neither deleted nor timed out
	Dead     int // in the dead-letter queue (all states)
}

// New returns an in-memory queue. Use Open for a persisted one; New panics
// if opts asks for persistence, a programming error.
func New(name string, opts Options) *Queue {
	if opts.DB != nil || opts.Path != "" {
		panic("memqueue.New: persistence options need memqueue.Open")
	}
	q, err := open(name, opts)
	if err != nil {
		panic(err) // unreachable without a database
	}
	return q
}

// Open returns a queue persisted in opts.DB or opts.Path (in memory if
// neither is set), loading the messages a previous run left. Messages that
// were in flight when the process stopped are visible again at once.
func Open(name string, opts Options) (*Queue, error) {
	return open(name, opts)
}

func open(name string, opts Options) (*Queue, error) {
	if name == "" {
		return nil, errors.New("memqueue: empty queue name")
	}
	if opts.DB != nil && opts.Path != "" {
		return nil, errors.New("memqueue: set DB or Path, not both")
	}
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	if opts.MaxReceiveCount <= 0 {
		opts.MaxReceiveCount = queue.MaxReceiveCount
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 10
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &Queue{
		name:    name,
		opts:    opts,
		db:      opts.DB,
		bucket:  []byte("memqueue/" + name),
		now:     time.Now,
		entries: make(map[string]*entry),
		changed: make(chan struct{}),
	}
	if opts.Path != "" {
		db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("memqueue %s: open %s: %w", name, opts.Path, err)
		}
		q.db, q.ownDB = db, true
	}
	if q.db != nil {
		if err := q.load(); err != nil {
			if q.ownDB {
				q.db.Close()
			}
			return nil, err
		}
	}
	return q, nil
}

func (q *Queue) load() error {
	now := q.now()
	err := q.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(q.bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			e := new(entry)
			if err := json.Unmarshal(v, e); err != nil {
				return fmt.Errorf("decode message %s: %w", k, err)
			}
			if e.InFlight {
				// Its consumer died with the previous process.
				e.InFlight, e.VisibleAt = false, now
			}
			q.entries[e.ID] = e
			heap.Push(&q.order, e)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("memqueue %s: load: %w", q.name, err)
	}
	return nil
}

// Close closes the bbolt file opened for Path. The queue must not be used
// afterwards.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if q.ownDB {
		return q.db.Close()
	}
	return nil
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Send enqueues msgs, all or none. Each must pass queue.Validate.
func (q *Queue) Send(ctx context.Context, msgs ...queue.Outgoing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, m := range msgs {
		if err := queue.Validate(m); err != nil {
			return fmt.Errorf("memqueue %s: message %d: %w", q.name, i, err)
		}
	}
	now := q.now()
	batch := make([]*entry, len(msgs))
	for i, m := range msgs {
		batch[i] = &entry{
			ID:         newID(),
			Body:       append([]byte(nil), m.Body...),
			Attributes: maps.Clone(m.Attributes),
			SentAt:     now,
			VisibleAt:  now.Add(m.Delay),
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.insertLocked(batch)
}

// insertLocked stores and indexes new entries.
func (q *Queue) insertLocked(batch []*entry) error {
	if q.closed {
		return fmt.Errorf("memqueue %s: closed", q.name)
	}
	if err := q.persistLocked(batch, nil); err != nil {
		return err
	}
	for _, e := range batch {
		q.entries[e.ID] = e
		heap.Push(&q.order, e)
	}
	q.signalLocked()
	return nil
}

// persistLocked writes put and removes del in one bbolt transaction.
func (q *Queue) persistLocked(put []*entry, del []string) error {
	if q.db == nil || (len(put) == 0 && len(del) == 0) {
		return nil
	}
	err := q.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(q.bucket)
		if err != nil {
			return err
		}
		for _, e := range put {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(e.ID), v); err != nil {
				return err
			}
		}
		for _, id := range del {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("memqueue %s: persist: %w", q.name, err)
	}
	return nil
}

func (q *Queue) signalLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Receive returns up to limit visible messages (1-10 like SQS; more are
// allowed here), waiting up to wait for the first one (long polling). Each
// returned message is hidden for the visibility timeout and its
// ReceiveCount is incremented. Messages over the redrive limit move to the
// dead-letter queue instead of being returned.
func (q *Queue) Receive(ctx context.Context, limit int, wait time.Duration) ([]Delivery, error) {
	if limit <= 0 {
		limit = 1
	}
	deadline := q.now().Add(wait)
	for {
		q.mu.Lock()
		got, err := q.receiveLocked(limit)
		changed := q.changed
		var next time.Time
		if len(q.order) > 0 {
			next = q.order[0].VisibleAt
		}
		q.mu.Unlock()
		if err != nil || len(got) > 0 {
			return got, err
		}
		now := q.now()
		if !now.Before(deadline) {
			return nil, nil
		}
		sleep := deadline.Sub(now)
		if !next.IsZero() && next.Sub(now) < sleep {
			sleep = max0(next.Sub(now))
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func max0(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d
}

func (q *Queue) receiveLocked(limit int) ([]Delivery, error) {
	if q.closed {
		return nil, fmt.Errorf("memqueue %s: closed", q.name)
	}
	now := q.now()
	var (
		got   []Delivery
		taken []*entry
		dead  []*entry
	)
	for len(got) < limit && len(q.order) > 0 && !q.order[0].VisibleAt.After(now) {
		e := heap.Pop(&q.order).(*entry)
		if q.opts.DeadLetter != nil && e.ReceiveCount >= q.opts.MaxReceiveCount {
			dead = append(dead, e)
			continue
		}
		taken = append(taken, e)
		got = append(got, Delivery{}) // filled below, once persisted
	}
	// Popped entries go back into the heap once updated (or as they were,
	// on failure); dead-lettered ones leave it for good.
	if len(dead) > 0 {
		if err := q.moveToDeadLetterLocked(dead); err != nil {
			for _, e := range append(taken, dead...) {
				heap.Push(&q.order, e)
			}
			return nil, err
		}
	}
	if len(taken) == 0 {
		return nil, nil
	}
	updated := make([]*entry, len(taken))
	for i, e := range taken {
		c := *e
		c.ReceiveCount++
		c.InFlight = true
		c.VisibleAt = now.Add(q.opts.VisibilityTimeout)
		updated[i] = &c
	}
	if err := q.persistLocked(updated, nil); err != nil {
		for _, e := range taken {
			heap.Push(&q.order, e)
		}
		return nil, err
	}
	for i, e := range taken {
		e.ReceiveCount, e.InFlight, e.VisibleAt = updated[i].ReceiveCount, true, updated[i].VisibleAt
		e.receipt = e.ID + "#" + newID()
		heap.Push(&q.order, e)
		got[i] = Delivery{
			Message: queue.Message{
				ID:           e.ID,
				Body:         append([]byte(nil), e.Body...),
				Attributes:   maps.Clone(e.Attributes),
				ReceiveCount: e.ReceiveCount,
			},
			Receipt: e.receipt,
		}
	}
	return got, nil
}

// moveToDeadLetterLocked hands entries (already popped from q.order) to the
// dead-letter queue, then forgets them here. The DLQ is written first: a
// crash in between duplicates a message rather than losing it.
func (q *Queue) moveToDeadLetterLocked(dead []*entry) error {
	moved := make([]*entry, len(dead))
	ids := make([]string, len(dead))
	for i, e := range dead {
		moved[i] = &entry{
			ID:           e.ID,
			Body:         e.Body,
			Attributes:   e.Attributes,
			ReceiveCount: e.ReceiveCount, // kept, as SQS does
			SentAt:       e.SentAt,
			VisibleAt:    q.now(),
		}
		ids[i] = e.ID
	}
	dlq := q.opts.DeadLetter
	dlq.mu.Lock()
	err := dlq.insertLocked(moved)
	dlq.mu.Unlock()
	if err != nil {
		return fmt.Errorf("memqueue %s: move to dead-letter queue %s: %w", q.name, dlq.name, err)
	}
	if err := q.persistLocked(nil, ids); err != nil {
		// Both copies exist now; the message is in the DLQ, which is what
		// matters. Forget ours in memory, and let a restart dedupe by luck.
		q.opts.Logger.Error("memqueue: forget dead-lettered messages", "queue", q.name, "err", err)
	}
	for _, e := range dead {
		delete(q.entries, e.ID)
	}
	q.opts.Logger.Warn("memqueue: messages moved to the dead-letter queue", "queue", q.name, "dead_letter_queue", dlq.name, "count", len(dead))
	return nil
}

// Delete removes received messages by receipt. A receipt from an older
// receive (the message timed out and was received again) deletes nothing,
// as on SQS.
func (q *Queue) Delete(ctx context.Context, receipts ...string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var gone []*entry
	for _, r := range receipts {
		id, _, _ := strings.Cut(r, "#")
		e, ok := q.entries[id]
		if !ok || e.receipt != r {
			continue
		}
		gone = append(gone, e)
	}
	if len(gone) == 0 {
		return nil
	}
	ids := make([]string, len(gone))
	for i, e := range gone {
		ids[i] = e.ID
	}
	if err := q.persistLocked(nil, ids); err != nil {
		return err
	}
	for _, e := range gone {
		delete(q.entries, e.ID)
		heap.Remove(&q.order, e.index)
	}
	return nil
}

// ChangeVisibility makes a received message visible again after timeout
// (0: at once), like SQS's ChangeMessageVisibility.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, timeout time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, _, _ := strings.Cut(receipt, "#")
	e, ok := q.entries[id]
	if !ok || e.receipt != receipt || !e.InFlight {
		return fmt.Errorf("memqueue %s: change visibility: receipt %q is not current", q.name, receipt)
	}
	c := *e
	c.VisibleAt = q.now().Add(timeout)
	if err := q.persistLocked([]*entry{&c}, nil); err != nil {
		return err
	}
	e.VisibleAt = c.VisibleAt
	heap.Fix(&q.order, e.index)
	q.signalLocked()
	return nil
}

// Stats counts the messages by state.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	s := q.statsLocked()
	q.mu.Unlock()
	if dlq := q.opts.DeadLetter; dlq != nil {
		dlq.mu.Lock()
		s.Dead = len(dlq.entries)
		dlq.mu.Unlock()
	}
	return s
}

func (q *Queue) statsLocked() Stats {
	var s Stats
	now := q.now()
	for _, e := range q.entries {
		switch {
		case !e.VisibleAt.After(now):
			s.Visible++
		case e.InFlight:
			s.InFlight++
		default:
			s.Delayed++
		}
	}
	return s
}

// Peek returns every message of the queue, in flight or not, oldest
// first, without receiving it: for operators looking into a dead-letter
// queue.
func (q *Queue) Peek() []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	es := make([]*entry, 0, len(q.entries))
	for _, e := range q.entries {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Or(a.SentAt.Compare(b.SentAt), strings.Compare(a.ID, b.ID)) })
	out := make([]queue.Message, len(es))
	for i, e := range es {
		out[i] = queue.Message{ID: e.ID, Body: e.Body, Attributes: maps.Clone(e.Attributes), ReceiveCount: e.ReceiveCount}
	}
	return out
}

// Redrive moves every message of the dead-letter queue that is not in
// flight back to this queue with its receive count reset, like SQS's
// dead-letter redrive. It returns how many moved.
func (q *Queue) Redrive(ctx context.Context) (int, error) {
	dlq := q.opts.DeadLetter
	if dlq == nil {
		return 0, fmt.Errorf("memqueue %s: redrive: no dead-letter queue", q.name)
	}
	// Copy out under the DLQ's lock, insert here under ours, then forget
	// them in the DLQ: never both locks at once in this order (Receive takes
	// the source's then the DLQ's), and a crash in between duplicates a
	// message rather than losing it.
	dlq.mu.Lock()
	now := dlq.now()
	var back []*entry
	for _, e := range dlq.entries {
		if e.VisibleAt.After(now) {
			continue // in flight or delayed in the DLQ
		}
		back = append(back, &entry{
			ID:         e.ID,
			Body:       e.Body,
			Attributes: e.Attributes,
			SentAt:     e.SentAt,
			VisibleAt:  now,
		})
	}
	dlq.mu.Unlock()
	if len(back) == 0 {
		return 0, nil
	}
	q.mu.Lock()
	err := q.insertLocked(back)
	q.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("memqueue %s: redrive: %w", q.name, err)
	}
	dlq.mu.Lock()
	defer dlq.mu.Unlock()
	ids := make([]string, 0, len(back))
	for _, e := range back {
		if _, ok := dlq.entries[e.ID]; ok {
			ids = append(ids, e.ID)
		}
	}
	if err := dlq.persistLocked(nil, ids); err != nil {
		return 0, fmt.Errorf("memqueue %s: redrive: forget in %s: %w", q.name, dlq.name, err)
	}
	for _, id := range ids {
		e := dlq.entries[id]
		delete(dlq.entries, id)
		heap.Remove(&dlq.order, e.index)
	}
	return len(back), nil
}

// Start runs opts.Concurrency consumers that call handler with batches of
// up to opts.BatchSize messages, until ctx ends; it blocks until then and
// until the handler calls under way have returned. Messages the handler
// reports failed, every message of a batch whose handler panics, and
// messages whose handler outlives the visibility timeout are delivered
// again once the timeout passes. The handler's context is cancelled at the
// visibility timeout (Lambda's function timeout) but not when ctx ends, so
// a shutdown lets batches finish.
func (q *Queue) Start(ctx context.Context, handler queue.BatchHandler) error {
	var wg sync.WaitGroup
	for range q.opts.Concurrency {
		wg.Go(func() { q.consume(ctx, handler) })
	}
	wg.Wait()
	return nil
}

func (q *Queue) consume(ctx context.Context, handler queue.BatchHandler) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := q.Receive(ctx, q.opts.BatchSize, 20*time.Second)
		if err == nil && len(batch) > 0 && len(batch) < q.opts.BatchSize && q.opts.BatchWindow > 0 {
			batch, err = q.fill(ctx, batch)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			q.opts.Logger.Error("memqueue: receive", "queue", q.name, "err", err)
			sleep(ctx, backoff)
			continue
		}
		if len(batch) == 0 {
			continue
		}
		q.handle(ctx, handler, batch)
	}
}

// fill gathers more messages for up to BatchWindow after the first.
func (q *Queue) fill(ctx context.Context, batch []Delivery) ([]Delivery, error) {
	deadline := q.now().Add(q.opts.BatchWindow)
	for len(batch) < q.opts.BatchSize {
		left := deadline.Sub(q.now())
		if left <= 0 {
			break
		}
		more, err := q.Receive(ctx, q.opts.BatchSize-len(batch), left)
		if err != nil {
			if ctx.Err() != nil {
				// Hand over what we hold rather than waiting out the
				// visibility timeout.
				return batch, nil
			}
			return batch, err
		}
		batch = append(batch, more...)
	}
	return batch, nil
}

func (q *Queue) handle(ctx context.Context, handler queue.BatchHandler, batch []Delivery) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.opts.VisibilityTimeout)
	defer cancel()
	msgs := make([]queue.Message, len(batch))
	for i, d := range batch {
		msgs[i] = d.Message
	}
	failed, ok := q.call(hctx, handler, msgs)
	if !ok {
		return // panicked: the whole batch times out and is retried
	}
	failedSet := make(map[string]bool, len(failed))
	for _, id := range failed {
		failedSet[id] = true
	}
	var done []string
	for _, d := range batch {
		if !failedSet[d.ID] {
			done = append(done, d.Receipt)
		}
	}
	if err := q.Delete(context.WithoutCancel(ctx), done...); err != nil {
		// The messages will be delivered again; consumers are idempotent.
		q.opts.Logger.Error("memqueue: delete handled messages", "queue", q.name, "count", len(done), "err", err)
	}
}

func (q *Queue) call(ctx context.Context, handler queue.BatchHandler, msgs []queue.Message) (failed []string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			q.opts.Logger.Error("memqueue: handler panicked; the batch will be retried", "queue", q.name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return handler(ctx, msgs), true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// newID returns a random UUID (version 4) like an SQS MessageId.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// byVisibleAt is a min-heap of entries by VisibleAt.
type byVisibleAt []*entry

func (h byVisibleAt) Len() int           { return len(h) }
func (h byVisibleAt) Less(i, j int) bool { return h[i].VisibleAt.Before(h[j].VisibleAt) }
func (h byVisibleAt) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *byVisibleAt) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *byVisibleAt) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

var _ queue.Sender = (*Queue)(nil)
