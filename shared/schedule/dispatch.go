package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/queue"
)

// Handler handles one firing; see the package doc for what it must check.
// An error retries the firing (through the queue) and, after the queue's
// redrive limit, leaves it in the schedule dead-letter queue.
type Handler func(ctx context.Context, f Firing) error

// Dispatcher consumes the schedule queue and calls the handler registered
// for each firing's kind. Register every kind before consuming.
type Dispatcher struct {
	Log *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler
}

// Register sets the handler of a kind; registering a kind twice panics (a
// wiring mistake, caught at start).
func (d *Dispatcher) Register(kind string, h Handler) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handlers == nil {
		d.handlers = map[string]Handler{}
	}
	if _, dup := d.handlers[kind]; dup || kind == "" || h == nil {
		panic(fmt.Sprintf("schedule: kind %q registered twice, empty or without a handler", kind))
	}
	d.handlers[kind] = h
}

// Handle decodes one firing body and runs its handler.
func (d *Dispatcher) Handle(ctx context.Context, body []byte) error {
	var f Firing
	if err := json.Unmarshal(body, &f); err != nil {
		return fmt.Errorf("decode firing: %w", err)
	}
	if f.Name == "" || f.Kind == "" || f.At.IsZero() {
		return fmt.Errorf("firing %q: name, kind and time are required", body)
	}
	d.mu.RLock()
	h := d.handlers[f.Kind]
	d.mu.RUnlock()
	if h == nil {
		return fmt.Errorf("firing %s of kind %q: %w", f.Name, f.Kind, ErrUnknownKind)
	}
	if err := h(ctx, f); err != nil {
		return fmt.Errorf("firing %s (%s at %s): %w", f.Name, f.Kind, f.At.Format("2006-01-02T15:04:05Z"), err)
	}
	return nil
}

// HandleBatch is the schedule queue's consumer (queue.BatchHandler). A
// firing that cannot be decoded or has no handler fails like any other:
// it is retried and then kept in the dead-letter queue, never dropped.
func (d *Dispatcher) HandleBatch(ctx context.Context, batch []queue.Message) (failed []string) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	for _, m := range batch {
		if err := d.Handle(ctx, m.Body); err != nil {
			log.WarnContext(ctx, "schedule firing failed; will retry", "messageId", m.ID,
				"receiveCount", m.ReceiveCount, "err", err, metric.ScheduleFiringFailed.Attr())
			failed = append(failed, m.ID)
		}
	}
	return failed
}
