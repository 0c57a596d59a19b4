// Package scheduletest is the contract suite of schedule.Scheduler: the
// embedded timer (local/timer) and the EventBridge Scheduler adapter
// (aws/scheduler, against a fake that keeps what the SDK sent) run it and
// must pass it unchanged.
package scheduletest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/schedule"
)

// Harness is one fresh scheduler whose clock reads Now.
type Harness struct {
	Scheduler schedule.Scheduler
	Now       time.Time
	// Pending returns the schedules waiting, by name, as the firings they
	// will deliver.
	Pending func(t *testing.T) map[string]schedule.Firing
	// Delivered delivers what is due at Now (where the adapter needs a
	// step for it) and returns every firing delivered so far.
	Delivered func(t *testing.T) []schedule.Firing
}

// Run runs the suite; newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"SetCreatesAndMoves", testSetMoves},
		{"Delete", testDelete},
		{"PastTimeDeliversNow", testPast},
		{"Invalid", testInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newHarness(t)) })
	}
}

func set(t *testing.T, h Harness, name string, at time.Time, data string) {
	t.Helper()
	if err := h.Scheduler.Set(t.Context(), schedule.Schedule{Name: name, At: at, Kind: "test.kind", Data: json.RawMessage(data)}); err != nil {
		t.Fatalf("set %s: %v", name, err)
	}
}

func testSetMoves(t *testing.T, h Harness) {
	set(t, h, "a", h.Now.Add(15*time.Minute+300*time.Millisecond), `{"v":1}`)
	set(t, h, "b", h.Now.Add(20*time.Minute), `{}`)
	set(t, h, "a", h.Now.Add(time.Hour), `{"v":2}`) // the same name moves
	got := h.Pending(t)
	if len(got) != 2 {
		t.Fatalf("pending: %v, want a and b", got)
	}
	want := schedule.Firing{Name: "a", Kind: "test.kind", At: h.Now.Add(time.Hour).UTC().Truncate(time.Second), Data: json.RawMessage(`{"v":2}`)}
	if a := got["a"]; a.Name != want.Name || a.Kind != want.Kind || !a.At.Equal(want.At) || string(a.Data) != string(want.Data) {
		t.Errorf("moved schedule: got %+v, want %+v", a, want)
	}
	if b := got["b"]; !b.At.Equal(h.Now.Add(20 * time.Minute).UTC().Truncate(time.Second)) {
		t.Errorf("b: %+v", b)
	}
	if d := h.Delivered(t); len(d) != 0 {
		t.Errorf("delivered before due: %v", d)
	}
}

func testDelete(t *testing.T, h Harness) {
	set(t, h, "c", h.Now.Add(time.Hour), `{}`)
	for range 2 { // the second finds nothing: not an error
		if err := h.Scheduler.Delete(t.Context(), "c"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if got := h.Pending(t); len(got) != 0 {
		t.Errorf("pending after delete: %v", got)
	}
}

func testPast(t *testing.T, h Harness) {
	set(t, h, "late", h.Now.Add(time.Hour), `{"v":1}`)
	set(t, h, "late", h.Now.Add(-time.Minute), `{"v":2}`) // moved into the past: due at once
	d := h.Delivered(t)
	if len(d) != 1 || d[0].Name != "late" || string(d[0].Data) != `{"v":2}` || !d[0].At.Equal(h.Now.Add(-time.Minute).UTC().Truncate(time.Second)) {
		t.Fatalf("delivered: %+v, want the moved schedule once", d)
	}
	if got := h.Pending(t); len(got) != 0 {
		t.Errorf("still pending: %v", got)
	}
}

func testInvalid(t *testing.T, h Harness) {
	for _, s := range []schedule.Schedule{
		{Name: "", At: h.Now, Kind: "k"},
		{Name: "has space", At: h.Now, Kind: "k"},
		{Name: strings.Repeat("x", 65), At: h.Now, Kind: "k"},
		{Name: "ok", At: h.Now.Add(time.Hour)},
		{Name: "ok", Kind: "k"},
		{Name: "ok", At: h.Now.Add(time.Hour), Kind: "k", Data: json.RawMessage(`{not json`)},
		{Name: "ok", At: h.Now.Add(time.Hour), Kind: "k", Data: json.RawMessage(`"` + strings.Repeat("x", schedule.MaxFiringBytes) + `"`)},
	} {
		if err := h.Scheduler.Set(t.Context(), s); err == nil {
			t.Errorf("set %.20q: no error", s.Name)
		}
	}
	for _, name := range []string{"", "a/b", strings.Repeat("x", 65)} {
		if err := h.Scheduler.Delete(t.Context(), name); err == nil {
			t.Errorf("delete %.20q: no error", name)
		}
	}
	if got := h.Pending(t); len(got) != 0 || len(h.Delivered(t)) != 0 {
		t.Errorf("an invalid schedule was kept: %v", got)
	}
}
