// Package changestest is the contract suite of changes.Stream: every
// implementation runs it (local/boltstore on a temporary file,
// aws/dynamostream on DynamoDB Local's Streams API) and must pass it
// unchanged. It also drives changes.Runner over each stream: filters,
// retries, dead letters, redelivery after a crash.
package changestest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/table"
)

// Harness is one fresh, empty table and its change stream.
type Harness struct {
	Table  table.Table
	Stream changes.Stream
	// Restart stands for a process restart: it closes what it must and
	// returns the same table and stream opened again, with the consumers'
	// committed positions kept.
	Restart func(t *testing.T) (table.Table, changes.Stream)
	// Wait is the longest a written change may take to become readable
	// (DynamoDB Streams is not instant). Default 10 s.
	Wait time.Duration
}

// Run runs the suite; newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Events", testEvents},
		{"MultiOpWrite", testMultiOpWrite},
		{"Images", testImages},
		{"OrderPerItem", testOrderPerItem},
		{"Positions", testPositions},
		{"Restart", testRestart},
		{"BadPosition", testBadPosition},
		{"RunnerFiltersRetriesDeadLetters", testRunner},
		{"RedeliveryAfterCrash", testRedelivery},
		{"RunLoop", testRunLoop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Wait == 0 {
				h.Wait = 10 * time.Second
			}
			tt.fn(t, h)
		})
	}
}

// doc is the item most tests write.
type doc struct {
	table.Keys
	Label string `json:"label"`
	N     int64  `json:"n,omitempty"`
}

func newDoc(pk, sk, label string, n int64) *doc {
	return &doc{Keys: table.Keys{PK: pk, SK: sk}, Label: label, N: n}
}

func write(t *testing.T, tb table.Table, ops ...table.Op) {
	t.Helper()
	if err := tb.Write(t.Context(), ops...); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func put(t *testing.T, tb table.Table, items ...table.Item) {
	t.Helper()
	for _, it := range items {
		write(t, tb, table.Op{Put: it})
	}
}

// readUntil reads (without committing) until the consumer sees a change of
// the sentinel key, and returns everything before and including it.
func readUntil(t *testing.T, h Harness, s changes.Stream, consumer string, sentinel table.Key) []changes.Change {
	t.Helper()
	deadline := time.Now().Add(h.Wait)
	for {
		got, err := s.Read(t.Context(), consumer, 1000)
		if err != nil {
			t.Fatalf("read %s: %v", consumer, err)
		}
		for i, c := range got {
			if c.Key == sentinel {
				return got[:i+1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: sentinel %s not seen within %s; got %s", consumer, sentinel, h.Wait, describe(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(cs []changes.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s", c.Event, c.Key))
	}
	return fmt.Sprint(out)
}

func decode(t *testing.T, im changes.Image) *doc {
	t.Helper()
	if im == nil {
		return nil
	}
	var d doc
	if err := im.Decode(&d); err != nil {
		t.Fatalf("decode image %s: %v", im, err)
	}
	return &d
}

func sentinel(t *testing.T, tb table.Table, name string) table.Key {
	t.Helper()
	k := table.Key{PK: "SENTINEL", SK: name}
	put(t, tb, newDoc(k.PK, k.SK, "sentinel", 0))
	return k
}

// testEvents: a put of a new item is an Insert, an overwrite that changes
// it a Modify, a delete a Remove; a put that changes nothing, a delete of
// nothing, a failed condition and a Check leave no change.
func testEvents(t *testing.T, h Harness) {
	tb := h.Table
	start := time.Now()
	put(t, tb, newDoc("A", "1", "first", 1))
	put(t, tb, newDoc("A", "1", "second", 2))
	put(t, tb, newDoc("A", "1", "second", 2)) // same content: no change
	err := tb.Write(t.Context(), table.Op{Put: newDoc("A", "1", "refused", 3), Cond: table.NotExists()})
	if !errors.Is(err, table.ErrConditionFailed) {
		t.Fatalf("conditional put: got %v, want a condition failure", err)
	}
	write(t, tb, table.Op{Check: &table.Key{PK: "A", SK: "1"}, Cond: table.Exists()})
	write(t, tb, table.Op{Delete: &table.Key{PK: "A", SK: "1"}})
	write(t, tb, table.Op{Delete: &table.Key{PK: "A", SK: "1"}}) // nothing to delete
	end := sentinel(t, tb, "events")

	got := readUntil(t, h, h.Stream, "c", end)
	if len(got) != 4 {
		t.Fatalf("changes: got %s, want INSERT, MODIFY, REMOVE of A|1 and the sentinel", describe(got))
	}
	ids := map[string]bool{}
	for i, c := range got {
		if c.ID == "" || c.Position == "" || ids[c.ID] {
			t.Errorf("change %d: empty or repeated ID %q / position %q", i, c.ID, c.Position)
		}
		ids[c.ID] = true
		// Approximate: DynamoDB rounds down to the second, DynamoDB Local to the minute.
		if c.Time.Before(start.Add(-time.Minute)) || c.Time.After(time.Now().Add(2*time.Second)) {
			t.Errorf("change %d: time %s not around the write (%s)", i, c.Time, start)
		}
		if c.Expired {
			t.Errorf("change %d: marked expired", i)
		}
	}
	want := []struct {
		event    changes.Event
		old, new string
	}{
		{changes.Insert, "", "first"},
		{changes.Modify, "first", "second"},
		{changes.Remove, "second", ""},
	}
	for i, w := range want {
		c := got[i]
		if c.Event != w.event || c.Key != (table.Key{PK: "A", SK: "1"}) {
			t.Errorf("change %d: got %s %s, want %s A|1", i, c.Event, c.Key, w.event)
		}
		if label(decode(t, c.Old)) != w.old || label(decode(t, c.New)) != w.new {
			t.Errorf("change %d: old %q new %q, want %q %q", i, c.Old, c.New, w.old, w.new)
		}
	}
	if item := got[2].Item(); label(decode(t, item)) != "second" {
		t.Errorf("Item() of a Remove: got %s, want the old image", item)
	}
	if k := got[1].New.Keys(); k.PK != "A" || k.SK != "1" {
		t.Errorf("image keys: got %+v", k)
	}
}

func label(d *doc) string {
	if d == nil {
		return ""
	}
	return d.Label
}

// testMultiOpWrite: every op of a multi-op write leaves its change; a
// multi-op write whose condition fails leaves none.
func testMultiOpWrite(t *testing.T, h Harness) {
	tb := h.Table
	put(t, tb, newDoc("T", "old", "old", 0))
	write(t, tb,
		table.Op{Put: newDoc("T", "b", "b", 0)},
		table.Op{Put: newDoc("T", "c", "c", 0), Cond: table.NotExists()},
		table.Op{Delete: &table.Key{PK: "T", SK: "old"}},
		table.Op{Check: &table.Key{PK: "T", SK: "none"}, Cond: table.NotExists()},
	)
	err := tb.Write(t.Context(),
		table.Op{Put: newDoc("T", "d", "d", 0)},
		table.Op{Put: newDoc("T", "b", "b2", 0), Cond: table.NotExists()},
	)
	if !errors.Is(err, table.ErrConditionFailed) {
		t.Fatalf("failing transaction: got %v", err)
	}
	end := sentinel(t, tb, "multi")
	got := readUntil(t, h, h.Stream, "c", end)
	var seen []string
	for _, c := range got[:len(got)-1] {
		seen = append(seen, string(c.Event)+" "+c.Key.SK)
	}
	slices.Sort(seen)
	want := []string{"INSERT b", "INSERT c", "INSERT old", "REMOVE old"}
	if !slices.Equal(seen, want) {
		t.Errorf("changes: got %v, want %v", seen, want)
	}
}

// rich carries every kind of attribute an item struct may have.
type rich struct {
	table.Keys
	Text    string            `json:"text"`
	Big     int64             `json:"big"`
	Neg     int64             `json:"neg"`
	Frac    float64           `json:"frac"`
	Flag    bool              `json:"flag"`
	Nothing *string           `json:"nothing"`
	List    []any             `json:"list"`
	Map     map[string]string `json:"map"`
	Nested  struct {
		At    time.Time `json:"at"`
		Count int       `json:"count"`
	} `json:"nested"`
	Bytes []byte `json:"bytes"`
}

// testImages: an image decodes into the struct that was written, exactly
// as table.Get would return it.
func testImages(t *testing.T, h Harness) {
	in := &rich{
		Keys: table.Keys{PK: "R", SK: "1", GSI1PK: "g", GSI1SK: "s", TTL: time.Now().Add(time.Hour).Unix(), Ver: 3},
		Text: "Hola 👋 \"quoted\" <b>", Big: math.MaxInt64, Neg: -42, Frac: 0.125, Flag: true,
		List: []any{"a", 1.5, true, nil, map[string]any{"k": "v"}},
		Map:  map[string]string{"x": "1", "ñ": "ü"},
	}
	in.Nested.At = time.Date(2026, 3, 1, 10, 30, 0, 123000000, time.UTC)
	in.Nested.Count = 7
	in.Bytes = []byte{0, 1, 2, 250}
	put(t, h.Table, in)
	end := sentinel(t, h.Table, "images")
	got := readUntil(t, h, h.Stream, "c", end)
	var out rich
	if err := got[0].New.Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var fromTable rich
	if err := h.Table.Get(t.Context(), table.Key{PK: "R", SK: "1"}, &fromTable); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !reflect.DeepEqual(out, fromTable) {
		t.Errorf("image differs from the stored item:\nimage %+v\ntable %+v", out, fromTable)
	}
	wantJSON, _ := json.Marshal(in)
	gotJSON, _ := json.Marshal(out)
	var w, g any
	json.Unmarshal(wantJSON, &w)
	json.Unmarshal(gotJSON, &g)
	if !reflect.DeepEqual(w, g) {
		t.Errorf("image round trip:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}
}

// testOrderPerItem: the changes of one item come in the order of its writes.
func testOrderPerItem(t *testing.T, h Harness) {
	const n = 15
	for i := 1; i <= n; i++ {
		put(t, h.Table, newDoc("O", "1", "v", int64(i)), newDoc("O", fmt.Sprint(i+1), "other", 0))
	}
	end := sentinel(t, h.Table, "order")
	got := readUntil(t, h, h.Stream, "c", end)
	var prev int64
	count := 0
	for _, c := range got {
		if c.Key != (table.Key{PK: "O", SK: "1"}) {
			continue
		}
		count++
		cur := decode(t, c.New).N
		if cur != prev+1 {
			t.Fatalf("change %d of O|1: n=%d after n=%d", count, cur, prev)
		}
		if prev > 0 && decode(t, c.Old).N != prev {
			t.Fatalf("change %d of O|1: old n=%d, want %d", count, decode(t, c.Old).N, prev)
		}
		prev = cur
	}
	if count != n {
		t.Errorf("got %d changes of O|1, want %d", count, n)
	}
}

// testPositions: each consumer has its own position; until it commits, it
// reads the same changes again; committing backwards changes nothing.
func testPositions(t *testing.T, h Harness) {
	for i := range 5 {
		put(t, h.Table, newDoc("P", fmt.Sprint(i), "p", int64(i)))
	}
	end := sentinel(t, h.Table, "positions")
	a := readUntil(t, h, h.Stream, "a", end)
	readUntil(t, h, h.Stream, "b", end) // b has read: the log keeps what b has not passed
	again := readUntil(t, h, h.Stream, "a", end)
	if !slices.Equal(ids(a), ids(again)) {
		t.Fatalf("uncommitted read changed: %v then %v", ids(a), ids(again))
	}
	if err := h.Stream.Commit(t.Context(), "a", a[2].Position); err != nil {
		t.Fatalf("commit: %v", err)
	}
	rest := readUntil(t, h, h.Stream, "a", end)
	if !slices.Equal(ids(rest), ids(a[3:])) {
		t.Errorf("after commit: got %v, want %v", ids(rest), ids(a[3:]))
	}
	if err := h.Stream.Commit(t.Context(), "a", a[0].Position); err != nil {
		t.Fatalf("commit backwards: %v", err)
	}
	if rest := readUntil(t, h, h.Stream, "a", end); !slices.Equal(ids(rest), ids(a[3:])) {
		t.Errorf("after committing backwards: got %v, want %v", ids(rest), ids(a[3:]))
	}
	if b := readUntil(t, h, h.Stream, "b", end); !slices.Equal(ids(b), ids(a)) {
		t.Errorf("consumer b: got %v, want everything %v", ids(b), ids(a))
	}
	if err := h.Stream.Commit(t.Context(), "a", a[len(a)-1].Position); err != nil {
		t.Fatalf("commit all: %v", err)
	}
	if got, err := h.Stream.Read(t.Context(), "a", 100); err != nil || len(got) != 0 {
		t.Errorf("read after committing everything: %s, %v", describe(got), err)
	}
	// b still has everything: a's commits do not trim what b has not passed.
	if b := readUntil(t, h, h.Stream, "b", end); len(b) != len(a) {
		t.Errorf("consumer b after a committed: got %d changes, want %d", len(b), len(a))
	}
}

func ids(cs []changes.Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// testRestart: changes written before a restart and not yet consumed (a
// crash between the write and its consumption) are delivered after it, from
// the committed position.
func testRestart(t *testing.T, h Harness) {
	for i := range 4 {
		put(t, h.Table, newDoc("S", fmt.Sprint(i), "before", int64(i)))
	}
	end := sentinel(t, h.Table, "restart1")
	before := readUntil(t, h, h.Stream, "c", end)
	if err := h.Stream.Commit(t.Context(), "c", before[1].Position); err != nil {
		t.Fatalf("commit: %v", err)
	}
	tb, s := h.Restart(t)
	after := readUntil(t, h, s, "c", end)
	if !slices.Equal(ids(after), ids(before[2:])) {
		t.Fatalf("after restart: got %v, want %v", ids(after), ids(before[2:]))
	}
	put(t, tb, newDoc("S", "new", "after", 9))
	end2 := sentinel(t, tb, "restart2")
	more := readUntil(t, h, s, "c", end2)
	if len(more) != len(after)+2 || more[len(more)-2].Key.SK != "new" {
		t.Errorf("writes after the restart: got %s", describe(more))
	}
}

func testBadPosition(t *testing.T, h Harness) {
	for _, p := range []string{"", "nonsense", "99999999999999999999999"} {
		if err := h.Stream.Commit(t.Context(), "c", p); !errors.Is(err, changes.ErrBadPosition) {
			t.Errorf("commit %q: got %v, want ErrBadPosition", p, err)
		}
	}
}

// deadLetters records what a Runner dead-letters.
type deadLetters struct {
	mu   sync.Mutex
	got  []changes.DeadLetter
	fail bool
}

func (d *deadLetters) Send(_ context.Context, msgs ...queue.Outgoing) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return errors.New("dead-letter queue down")
	}
	for _, m := range msgs {
		var dl changes.DeadLetter
		if err := json.Unmarshal(m.Body, &dl); err != nil {
			return err
		}
		d.got = append(d.got, dl)
	}
	return nil
}

func (d *deadLetters) list() []changes.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// recorder is a consumer's handler that records the calls per change.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int // by change ID
	keys  []string       // handled keys in order (successes only)
	fail  func(c changes.Change, call int) error
}

func (r *recorder) handle(_ context.Context, c changes.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[c.ID]++
	if r.fail != nil {
		if err := r.fail(c, r.calls[c.ID]); err != nil {
			return err
		}
	}
	r.keys = append(r.keys, string(c.Event)+" "+c.Key.String())
	return nil
}

func (r *recorder) handled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

// pollUntil polls the consumer until done reports true.
func pollUntil(t *testing.T, h Harness, r *changes.Runner, c changes.Consumer, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(h.Wait)
	for !done() {
		if _, err := r.Poll(t.Context(), c); err != nil {
			t.Fatalf("poll %s: %v", c.Name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll %s: not done within %s", c.Name, h.Wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testRunner: a consumer sees only what its filters select; a failing
// change is retried and then handled; a change that keeps failing goes to
// the dead-letter queue and the changes behind it move on.
func testRunner(t *testing.T, h Harness) {
	dl := &deadLetters{}
	r := &changes.Runner{Stream: h.Stream, DeadLetter: dl, MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Millisecond }}
	rec := &recorder{fail: func(c changes.Change, call int) error {
		switch {
		case c.Key.SK == "flaky" && call < 3:
			return errors.New("flaky: try again")
		case c.Key.SK == "poison":
			return errors.New("poison: never works")
		}
		return nil
	}}
	c := changes.Consumer{
		Name:    "runner",
		Filters: []changes.Filter{{PKPrefix: "MSG#", Events: []changes.Event{changes.Insert}}, {PKPrefix: "END"}},
		Handle:  rec.handle,
	}
	put(t, h.Table,
		newDoc("MSG#1", "ok1", "x", 0),
		newDoc("OTHER#1", "ignored", "x", 0), // other prefix
		newDoc("MSG#1", "flaky", "x", 0),
		newDoc("MSG#1", "ok1", "y", 0), // a Modify: not selected
		newDoc("MSG#2", "poison", "x", 0),
		newDoc("MSG#2", "ok2", "x", 0),
		newDoc("END", "end", "x", 0),
	)
	pollUntil(t, h, r, c, func() bool { return slices.Contains(rec.handled(), "INSERT END|end") })
	want := []string{"INSERT MSG#1|ok1", "INSERT MSG#1|flaky", "INSERT MSG#2|ok2", "INSERT END|end"}
	if got := rec.handled(); !slices.Equal(got, want) {
		t.Errorf("handled: got %v, want %v", got, want)
	}
	dead := dl.list()
	if len(dead) != 1 || dead[0].Change.Key.SK != "poison" || dead[0].Consumer != "runner" || dead[0].Attempts != 3 || dead[0].Error == "" {
		t.Fatalf("dead letters: got %+v, want the poison change after 3 attempts", dead)
	}
	if d := decode(t, dead[0].Change.New); d == nil || d.Label != "x" {
		t.Errorf("dead letter lost the image: %+v", dead[0].Change)
	}
	// Everything was committed: nothing comes again.
	if n, err := r.Poll(t.Context(), c); err != nil || n != 0 {
		t.Errorf("poll after the end: %d changes, %v", n, err)
	}
}

// failingCommit makes the next Commit fail, as if the process died after
// handling a batch and before recording its position.
type failingCommit struct {
	changes.Stream
	mu    sync.Mutex
	crash bool
}

func (f *failingCommit) Commit(ctx context.Context, consumer, position string) error {
	f.mu.Lock()
	crash := f.crash
	f.crash = false
	f.mu.Unlock()
	if crash {
		return errors.New("crashed before commit")
	}
	return f.Stream.Commit(ctx, consumer, position)
}

// testRedelivery: a crash between handling and committing delivers the
// same changes again, with the same IDs, so an idempotent consumer can
// recognise them; a dead-letter queue that is down keeps the change.
func testRedelivery(t *testing.T, h Harness) {
	stream := &failingCommit{Stream: h.Stream, crash: true}
	dl := &deadLetters{fail: true}
	r := &changes.Runner{Stream: stream, DeadLetter: dl, MaxAttempts: 1, Backoff: func(int) time.Duration { return 0 }}
	rec := &recorder{fail: func(c changes.Change, call int) error {
		if c.Key.SK == "poison" && call == 1 {
			return errors.New("fails once")
		}
		return nil
	}}
	applied := map[string]bool{} // the consumer's own idempotency record
	dupes := 0
	c := changes.Consumer{Name: "crashy", Handle: func(ctx context.Context, ch changes.Change) error {
		if err := rec.handle(ctx, ch); err != nil {
			return err
		}
		if applied[ch.ID] {
			dupes++
		}
		applied[ch.ID] = true
		return nil
	}}
	put(t, h.Table, newDoc("D", "1", "x", 0), newDoc("D", "2", "x", 0))
	end := sentinel(t, h.Table, "crash")
	readUntil(t, h, h.Stream, "crashy", end) // all three are readable
	if _, err := r.Poll(t.Context(), c); err == nil {
		t.Fatal("poll with a failing commit: no error")
	}
	pollUntil(t, h, r, c, func() bool { return dupes >= 3 })
	if len(applied) != 3 {
		t.Errorf("applied %d distinct changes, want 3", len(applied))
	}
	// A failing change whose dead-letter queue is down stays in the stream.
	put(t, h.Table, newDoc("D", "poison", "x", 0))
	end = sentinel(t, h.Table, "crash2")
	readUntil(t, h, h.Stream, "crashy", end)
	if _, err := r.Poll(t.Context(), c); err == nil {
		t.Fatal("poll with the dead-letter queue down: no error")
	}
	again, err := h.Stream.Read(t.Context(), "crashy", 10)
	if err != nil || len(again) == 0 || again[0].Key.SK != "poison" {
		t.Fatalf("after a failed dead-letter: got %s, %v; want the poison change first", describe(again), err)
	}
	pollUntil(t, h, r, c, func() bool { return slices.Contains(rec.handled(), "INSERT SENTINEL|crash2") })
	if !slices.Contains(rec.handled(), "INSERT D|poison") {
		t.Errorf("the poison change was not retried: %v", rec.handled())
	}
}

// testRunLoop: Run feeds a consumer as changes are written, until ctx ends.
func testRunLoop(t *testing.T, h Harness) {
	rec := &recorder{}
	r := &changes.Runner{Stream: h.Stream, DeadLetter: &deadLetters{}, PollInterval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, changes.Consumer{Name: "loop", Filters: []changes.Filter{{PKPrefix: "L"}}, Handle: rec.handle})
	}()
	put(t, h.Table, newDoc("L", "1", "x", 0), newDoc("L", "2", "x", 0))
	deadline := time.Now().Add(h.Wait)
	for len(rec.handled()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("run: handled %v within %s", rec.handled(), h.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if err := r.Run(t.Context(), changes.Consumer{Name: "x", Handle: rec.handle}, changes.Consumer{Name: "x", Handle: rec.handle}); err == nil {
		t.Error("run with two consumers of one name: no error")
	}
	if err := (&changes.Runner{Stream: h.Stream}).Run(t.Context(), changes.Consumer{Name: "y", Handle: rec.handle}); err == nil {
		t.Error("run without a dead-letter queue: no error")
	}
}
