package localstack

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/schedule"
)

// A webhook's writes reach the change stream of the running stack, and a
// consumer that has not read them yet still gets them after a restart.
func TestChangeStreamOfTheStack(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Integration.PhoneNumberID = samplesNumber // the number the sample webhooks go to
	st := start(t, cfg)
	var mu sync.Mutex
	var seen []string
	c := changes.Consumer{
		Name:    "test-messages",
		Filters: []changes.Filter{{PKPrefix: "MSGS#", SKPrefix: "MSG#", Events: []changes.Event{changes.Insert}}},
		Handle: func(_ context.Context, ch changes.Change) error {
			var m struct {
				Text string `json:"text"`
			}
			if err := ch.New.Decode(&m); err != nil {
				return err
			}
			mu.Lock()
			seen = append(seen, m.Text)
			mu.Unlock()
			return nil
		},
	}
	if _, err := st.Changes.Poll(t.Context(), c); err != nil { // registers the consumer
		t.Fatal(err)
	}
	body, err := os.ReadFile("../../events/whatsapp/message_text.json")
	if err != nil {
		t.Fatal(err)
	}
	if code := postWebhook(t, st, body); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	var conv convList
	waitFor(t, "the message stored", func() bool {
		conv = convList{}
		getJSON(t, st, "admin", "/conversations", &conv)
		return len(conv.Items) == 1
	})
	// Crash before the consumer ran: the change waits in the bolt file.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = start(t, cfg)
	defer st.Close()
	waitFor(t, "the change consumed after the restart", func() bool {
		if _, err := st.Changes.Poll(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 1
	})
	if want := "Hola, ¿tienen disponibilidad para el jueves?"; seen[0] != want {
		t.Errorf("consumer saw %q, want %q", seen[0], want)
	}
}

// A schedule set on the running stack fires through the schedule queue to
// the handler of its kind; one that came due while the stack was down
// fires when it starts again; a moved one fires once, at its new time.
func TestScheduleFiresAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	cfg := testConfig(t, dir)
	cfg.Now = clock
	var fired []string
	run := func() *Stack {
		st := start(t, cfg)
		st.App.Schedules.Register("test.remind", func(_ context.Context, f schedule.Firing) error {
			mu.Lock()
			defer mu.Unlock()
			fired = append(fired, f.Name)
			return nil
		})
		return st
	}
	firedNow := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(fired) }
	set := func(st *Stack, name string, in time.Duration) {
		t.Helper()
		if err := st.Schedules.Set(t.Context(), schedule.Schedule{Name: name, At: clock().Add(in), Kind: "test.remind"}); err != nil {
			t.Fatal(err)
		}
	}

	st := run()
	set(st, "soon", 15*time.Minute)
	set(st, "while-down", 30*time.Minute)
	set(st, "moved", 20*time.Minute)
	set(st, "moved", 2*time.Hour)
	var pending struct {
		Pending []schedule.Firing `json:"pending"`
	}
	resp, err := http.Get(st.Info.SimulatorURL + "/debug/schedules")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&pending)
	resp.Body.Close()
	var names []string
	for _, f := range pending.Pending {
		names = append(names, f.Name)
	}
	if err != nil || !slices.Equal(names, []string{"soon", "while-down", "moved"}) {
		t.Errorf("debug/schedules: %v (%v), want soon, while-down, moved in time order", names, err)
	}
	advance(16 * time.Minute)
	waitFor(t, "the first schedule fired", func() bool { return slices.Equal(firedNow(), []string{"soon"}) })
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	advance(time.Hour) // down while "while-down" came due
	st = run()
	defer st.Close()
	waitFor(t, "the missed schedule fired after the restart", func() bool {
		return slices.Equal(firedNow(), []string{"soon", "while-down"})
	})
	advance(time.Hour)
	waitFor(t, "the moved schedule fired once", func() bool {
		return slices.Equal(firedNow(), []string{"soon", "while-down", "moved"})
	})
}
