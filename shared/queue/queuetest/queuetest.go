// Package queuetest is the contract every queue implementation passes:
// at-least-once delivery, per-message failure and retry with a growing
// receive count, dead-lettering after the redrive limit, batches, attribute
// and unicode round trips, delays, and SQS's message validation.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/queue"
)

// Harness is one fresh queue (with its dead-letter queue) under test.
type Harness struct {
	Sender queue.Sender
	// Consume calls handler with received batches until ctx ends, then
	// returns once no handler call is under way.
	Consume func(ctx context.Context, handler queue.BatchHandler) error
	// DrainDeadLetters removes and returns what the dead-letter queue holds.
	DrainDeadLetters func(ctx context.Context) ([]queue.Message, error)
	// VisibilityTimeout and MaxReceiveCount the queue was made with. Keep
	// the timeout short (1 s) and the count small so the suite is quick.
	VisibilityTimeout time.Duration
	MaxReceiveCount   int
}

// Run runs the contract. newHarness is called once per subtest, which run
// concurrently, and must return a queue of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"DeliversEveryMessage", testDeliversEveryMessage},
		{"LargeBatch", testLargeBatch},
		{"AttributesRoundTrip", testAttributesRoundTrip},
		{"UnicodeBodies", testUnicodeBodies},
		{"FailedMessageAloneIsRedelivered", testFailedMessageAloneIsRedelivered},
		{"DeadLetterAfterMaxReceives", testDeadLetterAfterMaxReceives},
		{"Delay", testDelay},
		{"RefusesWhatSQSRefuses", testRefusesWhatSQSRefuses},
	}
	// The subtests mostly wait for timeouts, so they run all at once from
	// goroutines rather than with t.Parallel, whose limit is the core count.
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Go(func() {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t)
				if h.VisibilityTimeout <= 0 || h.MaxReceiveCount <= 0 {
					t.Fatal("harness must report its VisibilityTimeout and MaxReceiveCount")
				}
				tt.run(t, h)
			})
		})
	}
	wg.Wait()
}

// delivery is one message as a handler saw it.
type delivery struct {
	msg queue.Message
	at  time.Time
}

// consumer runs h.Consume in the background and records every delivery.
type consumer struct {
	mu         sync.Mutex
	deliveries []delivery
	changed    chan struct{}
	cancel     context.CancelFunc
	done       chan error
}

// consume starts h.Consume with a handler that records each message and
// fails those fail returns true for; it stops when the test ends.
func consume(t *testing.T, h Harness, fail func(queue.Message) bool) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{changed: make(chan struct{}), cancel: cancel, done: make(chan error, 1)}
	handler := func(ctx context.Context, batch []queue.Message) []string {
		now := time.Now()
		var failed []string
		c.mu.Lock()
		for _, m := range batch {
			c.deliveries = append(c.deliveries, delivery{msg: m, at: now})
			if fail != nil && fail(m) {
				failed = append(failed, m.ID)
			}
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		return failed
	}
	go func() { c.done <- h.Consume(ctx, handler) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *consumer) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Consume returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Consume did not return within 30 s of its context ending")
	}
}

func (c *consumer) snapshot() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deliveries)
}

// waitFor waits until cond holds for the deliveries so far, or fails the
// test after timeout.
func (c *consumer) waitFor(t *testing.T, timeout time.Duration, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ds, changed := slices.Clone(c.deliveries), c.changed
		c.mu.Unlock()
		if cond(ds) {
			return ds
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s; %d deliveries: %s", timeout, what, len(ds), describe(ds))
		}
	}
}

func describe(ds []delivery) string {
	var b strings.Builder
	for i, d := range ds {
		if i == 20 {
			fmt.Fprintf(&b, " ...")
			break
		}
		body := string(d.msg.Body)
		if len(body) > 24 {
			body = body[:24] + "..."
		}
		fmt.Fprintf(&b, " %q(x%d)", body, d.msg.ReceiveCount)
	}
	return b.String()
}

// bodies returns the set of distinct bodies delivered.
func bodies(ds []delivery) map[string]int {
	seen := make(map[string]int)
	for _, d := range ds {
		seen[string(d.msg.Body)]++
	}
	return seen
}

func hasAll(want []string) func([]delivery) bool {
	return func(ds []delivery) bool {
		seen := bodies(ds)
		for _, w := range want {
			if seen[w] == 0 {
				return false
			}
		}
		return true
	}
}

func send(t *testing.T, h Harness, msgs ...queue.Outgoing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Sender.Send(ctx, msgs...); err != nil {
		t.Fatalf("Send(%d messages): %v", len(msgs), err)
	}
}

func testDeliversEveryMessage(t *testing.T, h Harness) {
	var want []string
	for i := range 25 {
		body := fmt.Sprintf(`{"n":%d}`, i)
		want = append(want, body)
		send(t, h, queue.Outgoing{Body: []byte(body)})
	}
	c := consume(t, h, nil)
	ds := c.waitFor(t, 20*time.Second, "every message", hasAll(want))
	ids := make(map[string]string)
	for _, d := range ds {
		if d.msg.ID == "" {
			t.Errorf("message %q has no ID", d.msg.Body)
		}
		if d.msg.ReceiveCount < 1 {
			t.Errorf("message %q ReceiveCount = %d, want >= 1", d.msg.Body, d.msg.ReceiveCount)
		}
		if prev, ok := ids[d.msg.ID]; ok && prev != string(d.msg.Body) {
			t.Errorf("ID %s used for %q and %q", d.msg.ID, prev, d.msg.Body)
		}
		ids[d.msg.ID] = string(d.msg.Body)
	}
	if len(ids) != len(want) {
		t.Errorf("got %d distinct IDs, want %d", len(ids), len(want))
	}
}

func testLargeBatch(t *testing.T, h Harness) {
	const n = 250
	msgs := make([]queue.Outgoing, n)
	want := make([]string, n)
	for i := range msgs {
		want[i] = fmt.Sprintf("message %03d %s", i, strings.Repeat("x", 1000))
		msgs[i] = queue.Outgoing{Body: []byte(want[i]), Attributes: map[string]string{"n": fmt.Sprint(i)}}
	}
	send(t, h, msgs...)
	c := consume(t, h, nil)
	ds := c.waitFor(t, 30*time.Second, fmt.Sprintf("all %d messages", n), hasAll(want))
	for _, d := range ds {
		var i int
		if _, err := fmt.Sscanf(string(d.msg.Body), "message %03d", &i); err != nil {
			t.Fatalf("unexpected body %q", d.msg.Body)
		}
		if got, want := d.msg.Attributes["n"], fmt.Sprint(i); got != want {
			t.Errorf("message %d: attribute n = %q, want %q", i, got, want)
		}
	}
}

func testAttributesRoundTrip(t *testing.T, h Harness) {
	tests := []struct {
		body  string
		attrs map[string]string
	}{
		{"none", nil},
		{"one", map[string]string{"kind": "webhook"}},
		{"unicode values", map[string]string{"name": "Zoë 👋", "city": "東京", "rtl": "שלום"}},
		{"ten", map[string]string{
			"a0": "0", "a1": "1", "a2": "2", "a3": "3", "a4": "4",
			"a5": "5", "a6": "6", "a7": "7", "a8": "8", "a9": "9",
		}},
		{"dots and dashes", map[string]string{"x-request.id": "abc-123", "Org_ID": " spaced value "}},
	}
	var want []string
	for _, tt := range tests {
		want = append(want, tt.body)
		send(t, h, queue.Outgoing{Body: []byte(tt.body), Attributes: tt.attrs})
	}
	c := consume(t, h, nil)
	ds := c.waitFor(t, 20*time.Second, "every message", hasAll(want))
	for _, tt := range tests {
		for _, d := range ds {
			if string(d.msg.Body) != tt.body {
				continue
			}
			got := d.msg.Attributes
			if len(got) != len(tt.attrs) {
				t.Errorf("%s: got %d attributes %v, want %v", tt.body, len(got), got, tt.attrs)
			}
			for k, v := range tt.attrs {
				if got[k] != v {
					t.Errorf("%s: attribute %q = %q, want %q", tt.body, k, got[k], v)
				}
			}
		}
	}
}

func testUnicodeBodies(t *testing.T, h Harness) {
	want := []string{
		"héllo wörld",
		"👋🏽 emoji with skin tone, 👨‍👩‍👧 family",
		"日本語のメッセージ",
		"مرحبا بك",
		"tab\tnewline\ncarriage\rreturn",
		`{"text":"quote \" backslash \\ \u00e9 escaped"}`,
		"<xml attr='&amp;'>&lt;tags&gt;</xml>",
		"\U0001F600\U00010000 supplementary planes \uFFFD replacement char",
		strings.Repeat("ü", 60000), // 120 KB of two-byte characters
	}
	var msgs []queue.Outgoing
	for _, w := range want {
		msgs = append(msgs, queue.Outgoing{Body: []byte(w)})
	}
	send(t, h, msgs...)
	c := consume(t, h, nil)
	ds := c.waitFor(t, 20*time.Second, "every unicode body", hasAll(want))
	got := bodies(ds)
	for b := range got {
		if !slices.Contains(want, b) {
			t.Errorf("unexpected body %q", b)
		}
	}
}

func testFailedMessageAloneIsRedelivered(t *testing.T, h Harness) {
	var mu sync.Mutex
	failedOnce := false
	fail := func(m queue.Message) bool {
		mu.Lock()
		defer mu.Unlock()
		if string(m.Body) == "fail me once" && !failedOnce {
			failedOnce = true
			return true
		}
		return false
	}
	send(t, h,
		queue.Outgoing{Body: []byte("ok 1")},
		queue.Outgoing{Body: []byte("fail me once")},
		queue.Outgoing{Body: []byte("ok 2")},
	)
	c := consume(t, h, fail)
	c.waitFor(t, 10*h.VisibilityTimeout+10*time.Second, "the failed message's second delivery", func(ds []delivery) bool {
		for _, d := range ds {
			if string(d.msg.Body) == "fail me once" && d.msg.ReceiveCount >= 2 {
				return true
			}
		}
		return false
	})
	// Give the others a full visibility timeout to show up again, wrongly.
	time.Sleep(h.VisibilityTimeout + 500*time.Millisecond)
	c.stop(t)
	ds := c.snapshot()

	var firstFail, retry *delivery
	for i, d := range ds {
		switch string(d.msg.Body) {
		case "ok 1", "ok 2":
			if d.msg.ReceiveCount != 1 {
				t.Errorf("%q delivered with ReceiveCount %d, want only its first delivery", d.msg.Body, d.msg.ReceiveCount)
			}
		case "fail me once":
			if d.msg.ReceiveCount == 1 && firstFail == nil {
				firstFail = &ds[i]
			}
			if d.msg.ReceiveCount == 2 && retry == nil {
				retry = &ds[i]
			}
		}
	}
	if got := bodies(ds); got["ok 1"] != 1 || got["ok 2"] != 1 {
		t.Errorf("succeeded messages delivered %d and %d times, want once each", got["ok 1"], got["ok 2"])
	}
	if firstFail == nil || retry == nil {
		t.Fatalf("want deliveries with ReceiveCount 1 and 2 of the failed message; got%s", describe(ds))
	}
	if retry.msg.ID != firstFail.msg.ID {
		t.Errorf("redelivery ID = %s, want the original %s", retry.msg.ID, firstFail.msg.ID)
	}
	// A failed message stays hidden for the visibility timeout. SQS counts
	// it in whole seconds; allow some slack for clocks and polling.
	if gap := retry.at.Sub(firstFail.at); gap < h.VisibilityTimeout-300*time.Millisecond {
		t.Errorf("redelivered %s after the failure, want about the visibility timeout %s", gap, h.VisibilityTimeout)
	}
}

func testDeadLetterAfterMaxReceives(t *testing.T, h Harness) {
	const poison = `{"poison":true}`
	attrs := map[string]string{"kind": "poison"}
	send(t, h,
		queue.Outgoing{Body: []byte(poison), Attributes: attrs},
		queue.Outgoing{Body: []byte("fine")},
	)
	c := consume(t, h, func(m queue.Message) bool { return string(m.Body) == poison })

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(h.MaxReceiveCount+4)*h.VisibilityTimeout+20*time.Second)
	defer cancel()
	var dead []queue.Message
	for len(dead) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("poison message not in the dead-letter queue in time; deliveries:%s", describe(c.snapshot()))
		}
		got, err := h.DrainDeadLetters(ctx)
		if err != nil {
			t.Fatalf("DrainDeadLetters: %v", err)
		}
		dead = append(dead, got...)
		if len(dead) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Once dead-lettered it must not come back.
	time.Sleep(h.VisibilityTimeout + 500*time.Millisecond)
	c.stop(t)
	more, err := h.DrainDeadLetters(context.Background())
	if err != nil {
		t.Fatalf("DrainDeadLetters: %v", err)
	}
	dead = append(dead, more...)

	if len(dead) != 1 {
		t.Fatalf("dead-letter queue held %d messages, want 1: %v", len(dead), dead)
	}
	if got := string(dead[0].Body); got != poison {
		t.Errorf("dead letter body = %q, want %q", got, poison)
	}
	if got := dead[0].Attributes["kind"]; got != "poison" {
		t.Errorf("dead letter attribute kind = %q, want %q", got, "poison")
	}
	var counts []int
	for _, d := range c.snapshot() {
		if string(d.msg.Body) == poison {
			counts = append(counts, d.msg.ReceiveCount)
		}
	}
	var want []int
	for i := 1; i <= h.MaxReceiveCount; i++ {
		want = append(want, i)
	}
	if !slices.Equal(counts, want) {
		t.Errorf("poison message delivered with receive counts %v, want %v", counts, want)
	}
	if got := bodies(c.snapshot())["fine"]; got != 1 {
		t.Errorf("healthy message delivered %d times, want 1", got)
	}
}

func testDelay(t *testing.T, h Harness) {
	const delay = 2 * time.Second
	c := consume(t, h, nil)
	sent := time.Now()
	send(t, h,
		queue.Outgoing{Body: []byte("later"), Delay: delay},
		queue.Outgoing{Body: []byte("now")},
	)
	ds := c.waitFor(t, delay+15*time.Second, "both messages", hasAll([]string{"later", "now"}))
	for _, d := range ds {
		waited := d.at.Sub(sent)
		switch string(d.msg.Body) {
		case "later":
			if waited < delay-200*time.Millisecond {
				t.Errorf("delayed message delivered after %s, want >= %s", waited, delay)
			}
		case "now":
			if waited > delay {
				t.Errorf("undelayed message delivered after %s, want before the delayed one's %s", waited, delay)
			}
		}
	}
}

func testRefusesWhatSQSRefuses(t *testing.T, h Harness) {
	eleven := make(map[string]string)
	for i := range 11 {
		eleven[fmt.Sprintf("a%d", i)] = "v"
	}
	tests := []struct {
		name string
		msg  queue.Outgoing
	}{
		{"empty body", queue.Outgoing{}},
		{"invalid UTF-8", queue.Outgoing{Body: []byte{'a', 0xff, 'b'}}},
		{"NUL character", queue.Outgoing{Body: []byte("a\x00b")}},
		{"too large", queue.Outgoing{Body: []byte(strings.Repeat("x", queue.MaxMessageBytes+1))}},
		{"delay over 15 minutes", queue.Outgoing{Body: []byte("x"), Delay: 16 * time.Minute}},
		{"eleven attributes", queue.Outgoing{Body: []byte("x"), Attributes: eleven}},
		{"empty attribute value", queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{"k": ""}}},
		{"reserved attribute name", queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{"AWS.trace": "v"}}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		err := h.Sender.Send(ctx, tt.msg)
		if !errors.Is(err, queue.ErrInvalidMessage) {
			t.Errorf("%s: Send error = %v, want one wrapping queue.ErrInvalidMessage", tt.name, err)
		}
	}
	// A bad message in a batch refuses the whole batch before anything is
	// sent, so the caller can retry it as a unit.
	err := h.Sender.Send(ctx, queue.Outgoing{Body: []byte("good")}, queue.Outgoing{})
	if !errors.Is(err, queue.ErrInvalidMessage) {
		t.Fatalf("batch with an empty body: Send error = %v, want ErrInvalidMessage", err)
	}
	send(t, h, queue.Outgoing{Body: []byte("marker")})
	c := consume(t, h, nil)
	c.waitFor(t, 20*time.Second, "the marker", hasAll([]string{"marker"}))
	time.Sleep(300 * time.Millisecond)
	if got := bodies(c.snapshot()); len(got) != 1 {
		t.Errorf("delivered %v, want only the marker: refused messages must not be sent", got)
	}
}
