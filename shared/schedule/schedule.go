// Package schedule is the port for one-time schedules: "at time T, deliver
// this payload", named deterministically so the code that sets a schedule
// can move it (set it again) or cancel it without remembering an id.
// Snooze reminders and a conversation's window warning and close are
// schedules.
//
// Delivery goes through a queue, on both adapter sets: at the due time the
// scheduler sends a Firing (JSON) to the schedule queue, and a Dispatcher
// consuming that queue calls the Handler registered for the firing's Kind.
//
//   - AWS (aws/scheduler): EventBridge Scheduler at(...) schedules in the
//     stack's schedule group, ActionAfterCompletion DELETE, a retry policy
//     and a dead-letter queue, targeting the schedule SQS queue consumed by
//     the schedule function. Precision: within the minute.
//   - Embedded (local/timer): a timer persisted in bbolt that survives a
//     restart and, when it starts, fires what came due while it was down.
//
// # Rules for handlers
//
// Delivery is at least once (a retry, a redelivery, a timer that crashed
// between sending and forgetting), and a firing can be stale: the schedule
// was moved or deleted after this firing left (EventBridge may already be
// invoking its target when Set or Delete is called). So a handler
//
//  1. reads the current state of what the schedule is about (strongly), and
//  2. does nothing unless the firing is still current: compare Firing.At
//     with the time the state says the schedule should fire (Firing.Current)
//     or check a version carried in Data,
//  3. and applies its effect idempotently (a conditional write).
//
// # Example
//
//	// setting (e.g. on snooze):
//	err := schedules.Set(ctx, schedule.Schedule{
//		Name: schedule.Name("remind", org, notificationID),
//		At:   until, Kind: "notify.remind", Data: data,
//	})
//	// handling (registered once at wiring):
//	dispatcher.Register("notify.remind", func(ctx context.Context, f schedule.Firing) error {
//		n, err := store.Notification(ctx, ...)
//		if err != nil { return err }
//		if !f.Current(n.SnoozedUntil) { return nil } // moved or dismissed since
//		return notifier.Remind(ctx, n)                  // idempotent
//	})
package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Schedule is one one-time schedule.
type Schedule struct {
	// Name identifies the schedule: setting a name again moves it.
	// 1-64 characters of [0-9A-Za-z_.-] (EventBridge's rule); build it
	// with Name.
	Name string
	// At is when it fires (EventBridge: to the second, within the minute).
	// A time already past fires at once.
	At time.Time
	// Kind selects the Handler; Data is the handler's (JSON, small: the
	// whole firing must stay under 8 KiB, EventBridge's input limit).
	Kind string
	Data json.RawMessage
}

// Scheduler is the port. Implementations: aws/scheduler, local/timer.
type Scheduler interface {
	// Set creates the schedule, or moves and replaces it if one of this
	// name exists.
	Set(ctx context.Context, s Schedule) error
	// Delete cancels the schedule; a name with no schedule is not an error.
	Delete(ctx context.Context, name string) error
}

// Firing is what a schedule delivers, as the schedule queue's message body.
type Firing struct {
	Name string          `json:"name"`
	Kind string          `json:"kind"`
	At   time.Time       `json:"at"` // the time it was set for (not when it arrived)
	Data json.RawMessage `json:"data,omitempty"`
}

// Current reports whether this firing is still the one that should
// happen: the schedule's current due time, as the handler's state records
// it, is the firing's At (to the second, as schedules are precise).
// A zero due time (nothing scheduled any more) is never current.
func (f Firing) Current(due time.Time) bool {
	return !due.IsZero() && due.Truncate(time.Second).Equal(f.At.Truncate(time.Second))
}

// MaxFiringBytes is the largest firing body: EventBridge Scheduler's limit
// on a target's input.
const MaxFiringBytes = 8192

var nameRe = regexp.MustCompile(`^[0-9A-Za-z_.-]{1,64}$`)

// Check reports a schedule no implementation accepts, and returns the
// firing it delivers, encoded.
func (s Schedule) Check() ([]byte, error) {
	if !nameRe.MatchString(s.Name) {
		return nil, fmt.Errorf("schedule name %q: want 1-64 characters of [0-9A-Za-z_.-] (use schedule.Name)", s.Name)
	}
	if s.Kind == "" {
		return nil, fmt.Errorf("schedule %s: no kind", s.Name)
	}
	if s.At.IsZero() {
		return nil, fmt.Errorf("schedule %s: no time", s.Name)
	}
	if len(s.Data) > 0 && !json.Valid(s.Data) {
		return nil, fmt.Errorf("schedule %s: data is not JSON", s.Name)
	}
	body, err := json.Marshal(Firing{Name: s.Name, Kind: s.Kind, At: s.At.UTC().Truncate(time.Second), Data: s.Data})
	if err != nil {
		return nil, fmt.Errorf("schedule %s: encode: %w", s.Name, err)
	}
	if len(body) > MaxFiringBytes {
		return nil, fmt.Errorf("schedule %s: firing of %d bytes, at most %d", s.Name, len(body), MaxFiringBytes)
	}
	return body, nil
}

// CheckName reports a name no implementation accepts.
func CheckName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("schedule name %q: want 1-64 characters of [0-9A-Za-z_.-]", name)
	}
	return nil
}

// Name builds a deterministic schedule name from a kind and the ids of
// what it is about: "remind-acme-n123". Parts are joined with '-'; when the
// result is too long or holds other characters, the parts are replaced by
// a hash of them, so equal inputs always give equal, valid names.
func Name(kind string, parts ...string) string {
	n := strings.Join(append([]string{kind}, parts...), "-")
	if nameRe.MatchString(n) {
		return n
	}
	sum := sha256.Sum256([]byte(strings.Join(append([]string{kind}, parts...), "\x00")))
	prefix := strings.Map(func(r rune) rune {
		if strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", r) {
			return r
		}
		return -1
	}, kind)
	return prefix[:min(len(prefix), 23)] + "-" + hex.EncodeToString(sum[:20])
}

// ErrUnknownKind is returned for a firing whose kind has no handler.
var ErrUnknownKind = errors.New("no handler for this schedule kind")
