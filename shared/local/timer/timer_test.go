package timer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/schedule"
	"github.com/wacrm/wacrm/shared/schedule/scheduletest"
)

// clock is a test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sink records sent firings; it can be made to fail.
type sink struct {
	mu   sync.Mutex
	got  []schedule.Firing
	fail bool
}

func (s *sink) Send(_ context.Context, msgs ...queue.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("queue down")
	}
	for _, m := range msgs {
		var f schedule.Firing
		if err := json.Unmarshal(m.Body, &f); err != nil {
			return err
		}
		s.got = append(s.got, f)
	}
	return nil
}

func (s *sink) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.got {
		out = append(out, f.Name)
	}
	return out
}

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func open(t *testing.T, path string, target queue.Sender, c *clock) *Timer {
	t.Helper()
	tm, err := Open(target, Options{Path: path, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func set(t *testing.T, tm *Timer, name string, at time.Time) {
	t.Helper()
	if err := tm.Set(t.Context(), schedule.Schedule{Name: name, At: at, Kind: "test", Data: json.RawMessage(`{"n":1}`)}); err != nil {
		t.Fatalf("set %s: %v", name, err)
	}
}

func fire(t *testing.T, tm *Timer) int {
	t.Helper()
	n, err := tm.Fire(t.Context())
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
	return n
}

func TestFiresWhenDueMovedAndDeleted(t *testing.T) {
	c := &clock{now: t0}
	out := &sink{}
	tm := open(t, filepath.Join(t.TempDir(), "timer.db"), out, c)
	defer tm.Close()

	set(t, tm, "a", t0.Add(15*time.Minute))
	set(t, tm, "b", t0.Add(10*time.Minute))
	set(t, tm, "gone", t0.Add(5*time.Minute))
	set(t, tm, "moved", t0.Add(5*time.Minute))
	set(t, tm, "moved", t0.Add(time.Hour)) // set again: moved, not doubled
	if err := tm.Delete(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if err := tm.Delete(t.Context(), "never-existed"); err != nil {
		t.Errorf("delete of a missing schedule: %v", err)
	}
	if n := fire(t, tm); n != 0 {
		t.Fatalf("fired %d before anything was due", n)
	}
	c.Add(10 * time.Minute)
	fire(t, tm)
	if got := out.names(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("at +10m: fired %v, want [b]", got)
	}
	c.Add(50 * time.Minute)
	fire(t, tm)
	if got := out.names(); !slices.Equal(got, []string{"b", "a", "moved"}) {
		t.Fatalf("at +1h: fired %v, want [b a moved]", got)
	}
	if n := fire(t, tm); n != 0 {
		t.Errorf("fired %d again", n)
	}
	f := out.got[2]
	if f.Kind != "test" || !f.At.Equal(t0.Add(time.Hour)) || string(f.Data) != `{"n":1}` {
		t.Errorf("firing: %+v", f)
	}
	if !f.Current(t0.Add(time.Hour)) || f.Current(t0.Add(5*time.Minute)) || f.Current(time.Time{}) {
		t.Error("Current: a firing is current only for its own due time")
	}
	if _, ok := tm.Next(); ok {
		t.Error("schedules left after all fired")
	}
}

// A restart loses no schedule, and what came due while the timer was down
// fires when it starts.
func TestSurvivesRestartAndCatchesUp(t *testing.T) {
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "timer.db")
	out := &sink{}
	tm := open(t, path, out, c)
	set(t, tm, "while-down", t0.Add(15*time.Minute))
	set(t, tm, "later", t0.Add(2*time.Hour))
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour) // down for an hour
	tm = open(t, path, out, c)
	defer tm.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tm.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(out.names()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := out.names(); !slices.Equal(got, []string{"while-down"}) {
		t.Errorf("after the restart: fired %v, want [while-down]", got)
	}
	if next, ok := tm.Next(); !ok || !next.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("next: %v %v, want the later schedule kept", next, ok)
	}
}

// A firing whose send fails stays and goes out at the next try (at least once).
func TestSendFailureRetries(t *testing.T) {
	c := &clock{now: t0}
	out := &sink{fail: true}
	tm := open(t, filepath.Join(t.TempDir(), "timer.db"), out, c)
	defer tm.Close()
	set(t, tm, "x", t0)
	if _, err := tm.Fire(t.Context()); err == nil {
		t.Fatal("fire with the queue down: no error")
	}
	out.fail = false
	if n := fire(t, tm); n != 1 {
		t.Fatalf("retry fired %d, want 1", n)
	}
}

// End to end on the embedded twins: timer -> schedule queue -> dispatcher
// -> the handler of the kind, which ignores a stale firing.
func TestThroughQueueToHandler(t *testing.T) {
	c := &clock{now: t0}
	dir := t.TempDir()
	dlq, err := memqueue.Open("schedule-dlq", memqueue.Options{Path: filepath.Join(dir, "dlq")})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	q, err := memqueue.Open("schedule", memqueue.Options{Path: filepath.Join(dir, "q"), DeadLetter: dlq, MaxReceiveCount: 2, VisibilityTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tm := open(t, filepath.Join(dir, "timer.db"), q, c)
	defer tm.Close()

	due := map[string]time.Time{"r1": t0.Add(15 * time.Minute)} // the handler's state
	var mu sync.Mutex
	var effects []string
	d := &schedule.Dispatcher{}
	d.Register("remind", func(_ context.Context, f schedule.Firing) error {
		mu.Lock()
		defer mu.Unlock()
		if !f.Current(due[f.Name]) {
			return nil // stale: moved or cancelled since
		}
		effects = append(effects, f.Name)
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go q.Start(ctx, d.HandleBatch)

	put := func(name string, at time.Time) {
		t.Helper()
		if err := tm.Set(t.Context(), schedule.Schedule{Name: name, At: at, Kind: "remind"}); err != nil {
			t.Fatal(err)
		}
	}
	put("r1", t0.Add(15*time.Minute))
	put("stale", t0.Add(10*time.Minute)) // the state says nothing is due for it
	if err := tm.Set(t.Context(), schedule.Schedule{Name: "unknown", At: t0, Kind: "nobody-handles"}); err != nil {
		t.Fatal(err)
	}
	c.Add(15 * time.Minute)
	if n := fire(t, tm); n != 3 {
		t.Fatalf("fired %d, want 3", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(effects)
		mu.Unlock()
		if n == 1 && q.Stats().Dead == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(effects, []string{"r1"}) {
		t.Errorf("effects: %v, want [r1] (the stale firing does nothing)", effects)
	}
	if s := q.Stats(); s.Dead != 1 {
		t.Errorf("dead letters: %+v, want the firing nobody handles", s)
	}
}

// crashingSink records a firing and then "crashes" the timer: it closes
// the timer's file, so the step after the send (forgetting the schedule)
// cannot happen, as when the process dies between the two.
type crashingSink struct {
	sink
	crash func()
}

func (c *crashingSink) Send(ctx context.Context, msgs ...queue.Outgoing) error {
	if err := c.sink.Send(ctx, msgs...); err != nil {
		return err
	}
	if c.crash != nil {
		c.crash()
		c.crash = nil
	}
	return nil
}

// A crash between sending a firing and forgetting its schedule sends it
// again after the restart: at least once, never lost.
func TestCrashAfterSendFiresAgain(t *testing.T) {
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "timer.db")
	out := &crashingSink{}
	tm := open(t, path, out, c)
	out.crash = func() { tm.Close() }
	set(t, tm, "x", t0)
	if _, err := tm.Fire(t.Context()); err == nil {
		t.Fatal("fire that crashed before forgetting: no error")
	}
	tm = open(t, path, out, c)
	defer tm.Close()
	if n := fire(t, tm); n != 1 {
		t.Fatalf("after the restart: fired %d, want the schedule again", n)
	}
	if got := out.names(); !slices.Equal(got, []string{"x", "x"}) {
		t.Errorf("firings: %v, want x twice (a handler sees a duplicate, never a loss)", got)
	}
	if n := fire(t, tm); n != 0 {
		t.Errorf("fired %d more after it was forgotten", n)
	}
}

func TestContract(t *testing.T) {
	scheduletest.Run(t, func(t *testing.T) scheduletest.Harness {
		c := &clock{now: t0}
		out := &sink{}
		tm := open(t, filepath.Join(t.TempDir(), "timer.db"), out, c)
		t.Cleanup(func() { tm.Close() })
		return scheduletest.Harness{
			Scheduler: tm, Now: t0,
			Pending: func(t *testing.T) map[string]schedule.Firing {
				fs, err := tm.Pending()
				if err != nil {
					t.Fatal(err)
				}
				m := map[string]schedule.Firing{}
				for _, f := range fs {
					m[f.Name] = f
				}
				return m
			},
			Delivered: func(t *testing.T) []schedule.Firing {
				fire(t, tm)
				out.mu.Lock()
				defer out.mu.Unlock()
				return slices.Clone(out.got)
			},
		}
	})
}
