package changes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/queue"
)

// Consumer is one piece of work that follows writes. The same value runs in
// process (Runner) and on Lambda (aws/lambdastream).
type Consumer struct {
	// Name identifies the consumer's position; keep it stable across
	// releases (a new name starts again from the oldest change kept).
	Name string
	// Filters select the changes Handle sees (none: every change). The
	// others are skipped, and the consumer's position moves past them.
	Filters []Filter
	// Handle handles one change. It must be idempotent: a change can come
	// twice. An error retries the change (with backoff) and, after
	// MaxAttempts, sends it to the dead-letter queue so the changes behind
	// it move on.
	Handle func(ctx context.Context, c Change) error
}

// DeadLetter is what a Runner sends to its dead-letter queue for a change
// that kept failing: enough to inspect it and to replay it by hand.
type DeadLetter struct {
	Consumer string    `json:"consumer"`
	Change   Change    `json:"change"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// Runner feeds consumers from a Stream in process: per consumer, in order,
// one change at a time, committing its position after each batch. A crash
// before the commit redelivers the batch (at least once).
type Runner struct {
	Stream Stream
	// DeadLetter receives a DeadLetter (JSON) for each change that failed
	// MaxAttempts times. Required: a failing change is never dropped
	// without a copy.
	DeadLetter queue.Sender
	// MaxAttempts is how many times a change is tried. Default 5.
	MaxAttempts int
	// Backoff is the wait before attempt+1. Default: 100 ms doubled per
	// attempt, with jitter (queue.Backoff).
	Backoff func(attempt int) time.Duration
	// BatchSize is the most changes one Read returns. Default 100.
	BatchSize int
	// PollInterval is the wait between reads when the stream had nothing
	// new (streams that are a Notifier wake the runner at once). Default 1 s.
	PollInterval time.Duration
	Log          *slog.Logger
}

func (r *Runner) maxAttempts() int { return cmpOr(r.MaxAttempts, 5) }
func (r *Runner) batchSize() int   { return cmpOr(r.BatchSize, 100) }

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func (r *Runner) backoff(attempt int) time.Duration {
	if r.Backoff != nil {
		return r.Backoff(attempt)
	}
	return queue.Backoff(attempt, 100*time.Millisecond)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Check reports a consumer that cannot run.
func (c Consumer) Check() error {
	switch {
	case c.Name == "":
		return errors.New("change consumer without a name")
	case c.Handle == nil:
		return fmt.Errorf("change consumer %s: no Handle", c.Name)
	}
	return nil
}

// Run feeds each consumer until ctx ends, then returns once every handler
// call has returned. It returns an error at once for invalid consumers or a
// runner without a dead-letter queue.
func (r *Runner) Run(ctx context.Context, consumers ...Consumer) error {
	if r.Stream == nil || r.DeadLetter == nil {
		return errors.New("change runner needs a Stream and a DeadLetter queue")
	}
	seen := map[string]bool{}
	for _, c := range consumers {
		if err := c.Check(); err != nil {
			return err
		}
		if seen[c.Name] {
			return fmt.Errorf("change consumer %s registered twice", c.Name)
		}
		seen[c.Name] = true
	}
	var wg sync.WaitGroup
	for _, c := range consumers {
		wg.Go(func() { r.loop(ctx, c) })
	}
	wg.Wait()
	return nil
}

func (r *Runner) loop(ctx context.Context, c Consumer) {
	notifier, _ := r.Stream.(Notifier)
	interval := cmpOr(r.PollInterval, time.Second)
	for ctx.Err() == nil {
		var changed <-chan struct{}
		if notifier != nil {
			changed = notifier.Changed() // before the read: no write slips between
		}
		n, err := r.Poll(ctx, c)
		if err != nil && ctx.Err() == nil {
			r.log().ErrorContext(ctx, "change consumer failed; will retry", "consumer", c.Name, "err", err)
		}
		if err == nil && n >= r.batchSize() {
			continue // more is waiting
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Poll reads one batch for the consumer, handles the changes its filters
// select (with retries and dead-lettering), and commits the position after
// the batch. It returns how many changes it read (selected or not).
func (r *Runner) Poll(ctx context.Context, c Consumer) (int, error) {
	if err := c.Check(); err != nil {
		return 0, err
	}
	batch, err := r.Stream.Read(ctx, c.Name, r.batchSize())
	if err != nil {
		return 0, fmt.Errorf("read changes for %s: %w", c.Name, err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	done := "" // position of the last change handled or skipped
	for _, ch := range batch {
		if MatchAny(c.Filters, ch) {
			if err := r.deliver(ctx, c, ch); err != nil {
				if done != "" {
					r.commit(ctx, c, done)
				}
				return len(batch), err
			}
		}
		done = ch.Position
	}
	if err := r.Stream.Commit(ctx, c.Name, done); err != nil {
		return len(batch), fmt.Errorf("commit %s at %s: %w", c.Name, done, err)
	}
	return len(batch), nil
}

func (r *Runner) commit(ctx context.Context, c Consumer, position string) {
	if err := r.Stream.Commit(ctx, c.Name, position); err != nil {
		r.log().WarnContext(ctx, "commit change position", "consumer", c.Name, "err", err)
	}
}

// deliver calls the handler until it succeeds or MaxAttempts is reached,
// then dead-letters the change. It fails only when ctx ends or the
// dead-letter queue refuses the change; the change is then read again.
func (r *Runner) deliver(ctx context.Context, c Consumer, ch Change) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = call(ctx, c, ch); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= r.maxAttempts() {
			return r.deadLetter(ctx, c, ch, err, attempt)
		}
		r.log().WarnContext(ctx, "change handler failed; will retry", "consumer", c.Name, "change", ch.ID,
			"key", ch.Key.String(), "attempt", attempt, "err", err)
		timer := time.NewTimer(r.backoff(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func call(ctx context.Context, c Consumer, ch Change) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return c.Handle(ctx, ch)
}

func (r *Runner) deadLetter(ctx context.Context, c Consumer, ch Change, cause error, attempts int) error {
	body, err := json.Marshal(DeadLetter{Consumer: c.Name, Change: ch, Error: cause.Error(), Attempts: attempts, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode dead letter of change %s: %w", ch.ID, err)
	}
	if err := r.DeadLetter.Send(ctx, queue.Outgoing{Body: body}); err != nil {
		return fmt.Errorf("dead-letter change %s of %s: %w", ch.ID, c.Name, err)
	}
	r.log().ErrorContext(ctx, "change dead-lettered", "consumer", c.Name, "change", ch.ID, "key", ch.Key.String(),
		"attempts", attempts, "err", cause, metric.ChangeDeadLettered.Attr())
	return nil
}
