package memqueue

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/queue/queuetest"
)

const (
	testVisibility = time.Second
	testMaxReceive = 3
)

func harness(t *testing.T, q, dlq *Queue) queuetest.Harness {
	return queuetest.Harness{
		Sender:            q,
		Consume:           q.Start,
		DrainDeadLetters:  func(ctx context.Context) ([]queue.Message, error) { return drain(ctx, dlq) },
		VisibilityTimeout: testVisibility,
		MaxReceiveCount:   testMaxReceive,
	}
}

// drain receives and deletes everything visible in q.
func drain(ctx context.Context, q *Queue) ([]queue.Message, error) {
	var out []queue.Message
	for {
		got, err := q.Receive(ctx, 10, 0)
		if err != nil || len(got) == 0 {
			return out, err
		}
		receipts := make([]string, len(got))
		for i, d := range got {
			out = append(out, d.Message)
			receipts[i] = d.Receipt
		}
		if err := q.Delete(ctx, receipts...); err != nil {
			return out, err
		}
	}
}

func TestContractInMemory(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		dlq := New("test-dlq", Options{})
		q := New("test", Options{
			VisibilityTimeout: testVisibility,
			MaxReceiveCount:   testMaxReceive,
			Concurrency:       2,
			DeadLetter:        dlq,
		})
		return harness(t, q, dlq)
	})
}

func TestContractPersisted(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		db := openDB(t, filepath.Join(t.TempDir(), "queues.db"))
		dlq, err := Open("test-dlq", Options{DB: db})
		if err != nil {
			t.Fatal(err)
		}
		q, err := Open("test", Options{
			VisibilityTimeout: testVisibility,
			MaxReceiveCount:   testMaxReceive,
			DeadLetter:        dlq,
			DB:                db,
		})
		if err != nil {
			t.Fatal(err)
		}
		return harness(t, q, dlq)
	})
}

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// run starts q.Start in the background and stops it when the test ends.
func run(t *testing.T, q *Queue, h queue.BatchHandler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Start(ctx, h); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPanickingHandlerRetriesTheBatch(t *testing.T) {
	q := New("panics", Options{VisibilityTimeout: 200 * time.Millisecond, Logger: discard()})
	if err := q.Send(context.Background(), queue.Outgoing{Body: []byte("boom")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var counts []int
	run(t, q, func(ctx context.Context, batch []queue.Message) []string {
		mu.Lock()
		counts = append(counts, batch[0].ReceiveCount)
		first := len(counts) == 1
		mu.Unlock()
		if first {
			panic("handler bug")
		}
		return nil
	})
	waitUntil(t, 5*time.Second, "the redelivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(counts) == 2
	})
	waitUntil(t, time.Second, "the queue to empty", func() bool { return q.Stats() == Stats{} })
	mu.Lock()
	defer mu.Unlock()
	if counts[0] != 1 || counts[1] != 2 {
		t.Errorf("receive counts = %v, want [1 2]", counts)
	}
}

func TestHandlerOutlivingVisibilityTimeout(t *testing.T) {
	const vt = 300 * time.Millisecond
	q := New("slow", Options{VisibilityTimeout: vt, Concurrency: 2})
	if err := q.Send(context.Background(), queue.Outgoing{Body: []byte("slow")}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var firstCtxErr atomic.Value
	run(t, q, func(ctx context.Context, batch []queue.Message) []string {
		if calls.Add(1) == 1 {
			<-ctx.Done() // the handler's deadline is the visibility timeout
			firstCtxErr.Store(ctx.Err())
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	})
	waitUntil(t, 5*time.Second, "the second delivery", func() bool { return calls.Load() >= 2 })
	waitUntil(t, time.Second, "the queue to empty", func() bool { return q.Stats() == Stats{} })
	if err, _ := firstCtxErr.Load().(error); err != context.DeadlineExceeded {
		t.Errorf("slow handler's context error = %v, want %v", err, context.DeadlineExceeded)
	}
}

func TestStaleReceiptDeletesNothing(t *testing.T) {
	ctx := context.Background()
	q := New("stale", Options{VisibilityTimeout: 50 * time.Millisecond})
	if err := q.Send(ctx, queue.Outgoing{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	first, err := q.Receive(ctx, 1, 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("Receive = %v, %v", first, err)
	}
	second, err := q.Receive(ctx, 1, time.Second) // after the timeout
	if err != nil || len(second) != 1 {
		t.Fatalf("second Receive = %v, %v", second, err)
	}
	if err := q.Delete(ctx, first[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats(); got.InFlight != 1 {
		t.Fatalf("after deleting with a stale receipt Stats = %+v, want 1 in flight", got)
	}
	if err := q.Delete(ctx, second[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats(); got != (Stats{}) {
		t.Errorf("after deleting with the current receipt Stats = %+v, want empty", got)
	}
}

func TestStatsAndRedrive(t *testing.T) {
	ctx := context.Background()
	dlq := New("dlq", Options{})
	q := New("q", Options{VisibilityTimeout: 20 * time.Millisecond, MaxReceiveCount: 2, DeadLetter: dlq, Logger: discard()})
	err := q.Send(ctx,
		queue.Outgoing{Body: []byte("delayed"), Delay: 10 * time.Minute},
		queue.Outgoing{Body: []byte("ready")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.Stats(), (Stats{Visible: 1, Delayed: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	ready := receiveBody(t, q, "ready")
	if got, want := q.Stats(), (Stats{Delayed: 1, InFlight: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if err := q.Delete(ctx, ready.Receipt); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, queue.Outgoing{Body: []byte("poison"), Attributes: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}

	// Two receives without a delete, then the third moves it to the DLQ.
	id := receiveBody(t, q, "poison").ID
	receiveBody(t, q, "poison")
	time.Sleep(30 * time.Millisecond)
	if got, err := q.Receive(ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("third Receive = %v, %v; want nothing (moved to the DLQ)", got, err)
	}
	if got, want := q.Stats(), (Stats{Delayed: 1, Dead: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}

	// Peek shows what waits in the DLQ without receiving it.
	for range 2 {
		dead := dlq.Peek()
		if len(dead) != 1 || dead[0].ID != id || string(dead[0].Body) != "poison" || dead[0].Attributes["k"] != "v" {
			t.Fatalf("DLQ Peek = %+v, want the poison message", dead)
		}
	}
	if got, want := dlq.Stats(), (Stats{Visible: 1}); got != want {
		t.Errorf("DLQ Stats after Peek = %+v, want %+v", got, want)
	}

	n, err := q.Redrive(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v; want 1", n, err)
	}
	back := receiveBody(t, q, "poison")
	if back.ID != id || back.ReceiveCount != 1 || back.Attributes["k"] != "v" {
		t.Errorf("redriven message = %+v, want ID %s, ReceiveCount 1, attribute k=v", back.Message, id)
	}
	if got, want := q.Stats(), (Stats{Delayed: 1, InFlight: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// receiveBody receives one message and checks its body.
func receiveBody(t *testing.T, q *Queue, want string) Delivery {
	t.Helper()
	got, err := q.Receive(context.Background(), 1, time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("Receive = %v, %v; want %q", got, err, want)
	}
	if string(got[0].Body) != want {
		t.Fatalf("received %q, want %q", got[0].Body, want)
	}
	return got[0]
}

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	open := func() (*Queue, *Queue) {
		dlq, err := Open("dlq", Options{Path: path + ".dlq"})
		if err != nil {
			t.Fatal(err)
		}
		q, err := Open("inbound", Options{Path: path, MaxReceiveCount: 2, DeadLetter: dlq, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		return q, dlq
	}
	q, dlq := open()
	err := q.Send(ctx,
		queue.Outgoing{Body: []byte("in flight"), Attributes: map[string]string{"a": "1"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := receiveBody(t, q, "in flight")
	if err := q.Send(ctx, queue.Outgoing{Body: []byte("delayed"), Delay: 10 * time.Minute}, queue.Outgoing{Body: []byte("done")}); err != nil {
		t.Fatal(err)
	}
	done := receiveBody(t, q, "done")
	if err := q.Delete(ctx, done.Receipt); err != nil {
		t.Fatal(err)
	}
	if err := dlq.Send(ctx, queue.Outgoing{Body: []byte("dead")}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	dlq.Close()

	q, dlq = open()
	defer q.Close()
	defer dlq.Close()
	if got, want := q.Stats(), (Stats{Visible: 1, Delayed: 1, Dead: 1}); got != want {
		t.Errorf("after restart Stats = %+v, want %+v", got, want)
	}
	again := receiveBody(t, q, "in flight")
	if again.ID != inFlight.ID || again.ReceiveCount != 2 || again.Attributes["a"] != "1" {
		t.Errorf("after restart got %+v, want ID %s, ReceiveCount 2, attribute a=1", again.Message, inFlight.ID)
	}
}

func TestBatchWindowGathersABatch(t *testing.T) {
	ctx := context.Background()
	q := New("window", Options{BatchWindow: 500 * time.Millisecond})
	sizes := make(chan int, 10)
	run(t, q, func(ctx context.Context, batch []queue.Message) []string {
		sizes <- len(batch)
		return nil
	})
	if err := q.Send(ctx, queue.Outgoing{Body: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for range 4 {
		if err := q.Send(ctx, queue.Outgoing{Body: []byte("more")}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case n := <-sizes:
		if n != 5 {
			t.Errorf("first batch has %d messages, want 5", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no batch delivered")
	}
}

func TestBatchSizeLimitsBatches(t *testing.T) {
	ctx := context.Background()
	q := New("sized", Options{BatchSize: 3})
	var msgs []queue.Outgoing
	for range 7 {
		msgs = append(msgs, queue.Outgoing{Body: []byte("m")})
	}
	if err := q.Send(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sizes []int
	total := 0
	run(t, q, func(ctx context.Context, batch []queue.Message) []string {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(batch))
		total += len(batch)
		return nil
	})
	waitUntil(t, 5*time.Second, "all messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total == 7
	})
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 3 {
			t.Errorf("batch sizes %v, want none over 3", sizes)
		}
	}
}

func TestNewRefusesPersistenceOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with Path did not panic")
		}
	}()
	New("x", Options{Path: "x.db"})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
