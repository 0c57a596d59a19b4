package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/queue"
)

// recordingSender keeps what it is asked to send.
type recordingSender struct {
	mu   sync.Mutex
	sent []queue.Outgoing
}

func (r *recordingSender) Send(ctx context.Context, msgs ...queue.Outgoing) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, msgs...)
	return nil
}

func newClaimCheck(t *testing.T, maxInline int) (*queue.ClaimCheck, *recordingSender, *fileblob.Store) {
	t.Helper()
	blobs := fileblob.New(t.TempDir(), "http://unused", []byte("k"))
	sender := &recordingSender{}
	return &queue.ClaimCheck{Sender: sender, Blobs: blobs, MaxInline: maxInline}, sender, blobs
}

// delivered turns a sent message into the one a consumer would receive.
func delivered(id string, o queue.Outgoing) queue.Message {
	return queue.Message{ID: id, Body: o.Body, Attributes: o.Attributes, ReceiveCount: 1}
}

func TestClaimCheckThreeMegabytes(t *testing.T) {
	ctx := context.Background()
	cc, sender, blobs := newClaimCheck(t, 0)
	big := []byte(`{"entry":"` + strings.Repeat("é", 3<<20/2) + `"}`)
	err := cc.Send(ctx, queue.Outgoing{Body: big, Attributes: map[string]string{"kind": "webhook"}, Delay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(sender.sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sender.sent))
	}
	out := sender.sent[0]
	key := out.Attributes[queue.ClaimCheckAttribute]
	wantPrefix := queue.DefaultClaimCheckPrefix + time.Now().UTC().Format("2006/01/02/")
	if !strings.HasPrefix(key, wantPrefix) || len(key) != len(wantPrefix)+32 {
		t.Errorf("claim key = %q, want %s<32 hex digits>", key, wantPrefix)
	}
	if out.Attributes["kind"] != "webhook" || out.Delay != 2*time.Second {
		t.Errorf("pointer message lost attributes or delay: %+v", out)
	}
	if err := queue.Validate(out); err != nil {
		t.Errorf("pointer message is not sendable: %v", err)
	}
	var pointer struct {
		ClaimCheck string `json:"claimCheck"`
		Bytes      int    `json:"bytes"`
	}
	if err := json.Unmarshal(out.Body, &pointer); err != nil || pointer.ClaimCheck != key || pointer.Bytes != len(big) {
		t.Errorf("pointer body = %s (%v), want {claimCheck: %s, bytes: %d}", out.Body, err, key, len(big))
	}
	stored, _, err := blobs.Get(ctx, key)
	if err != nil || !bytes.Equal(stored, big) {
		t.Fatalf("blob under %s: %d bytes, err %v; want the %d-byte body", key, len(stored), err, len(big))
	}

	msg := delivered("m1", out)
	got, err := cc.Resolve(ctx, msg)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Resolve = %d bytes, %v; want the original %d bytes", len(got), err, len(big))
	}
	if err := cc.Release(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := blobs.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("blob still there after Release: %v", err)
	}
	if _, err := cc.Resolve(ctx, msg); !errors.Is(err, queue.ErrClaimMissing) {
		t.Errorf("Resolve after Release: error = %v, want ErrClaimMissing", err)
	}
}

func TestClaimCheckInlineOrNot(t *testing.T) {
	const maxInline = 100
	tests := []struct {
		name    string
		msg     queue.Outgoing
		claimed bool
	}{
		{"small", queue.Outgoing{Body: []byte("hello")}, false},
		{"exactly the limit", queue.Outgoing{Body: bytes.Repeat([]byte("x"), maxInline)}, false},
		{"one byte over", queue.Outgoing{Body: bytes.Repeat([]byte("x"), maxInline+1)}, true},
		// name 4 + "String" 6 + value 10 = 20 bytes of attributes count too.
		{"attributes push it over", queue.Outgoing{Body: bytes.Repeat([]byte("x"), 81), Attributes: map[string]string{"kind": "0123456789"}}, true},
		{"attributes within", queue.Outgoing{Body: bytes.Repeat([]byte("x"), 80), Attributes: map[string]string{"kind": "0123456789"}}, false},
		{"binary body", queue.Outgoing{Body: []byte{0, 1, 2, 0xff}}, true},
		{"NUL in text", queue.Outgoing{Body: []byte("a\x00b")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cc, sender, _ := newClaimCheck(t, maxInline)
			if err := cc.Send(ctx, tt.msg); err != nil {
				t.Fatal(err)
			}
			out := sender.sent[0]
			_, claimed := queue.Claimed(delivered("m", out))
			if claimed != tt.claimed {
				t.Fatalf("claim-checked = %v, want %v", claimed, tt.claimed)
			}
			if !claimed && !bytes.Equal(out.Body, tt.msg.Body) {
				t.Errorf("inline body changed: %q", out.Body)
			}
			got, err := cc.Resolve(ctx, delivered("m", out))
			if err != nil || !bytes.Equal(got, tt.msg.Body) {
				t.Errorf("Resolve = %q, %v; want %q", got, err, tt.msg.Body)
			}
		})
	}
}

func TestClaimCheckRefusesForeignPointers(t *testing.T) {
	ctx := context.Background()
	cc, _, blobs := newClaimCheck(t, 0)
	if err := blobs.Put(ctx, "attachments/private.pdf", []byte("secret"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	msg := queue.Message{ID: "m", Body: []byte("{}"), Attributes: map[string]string{queue.ClaimCheckAttribute: "attachments/private.pdf"}}
	if got, err := cc.Resolve(ctx, msg); err == nil || errors.Is(err, queue.ErrClaimMissing) {
		t.Errorf("Resolve of a pointer outside the prefix = %q, %v; want a refusal", got, err)
	}
	if err := cc.Release(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := blobs.Get(ctx, "attachments/private.pdf"); err != nil {
		t.Errorf("Release deleted a blob outside the prefix: %v", err)
	}
	err := cc.Send(ctx, queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{queue.ClaimCheckAttribute: "claimcheck/x"}})
	if err == nil {
		t.Error("Send of a message already carrying the claim attribute succeeded")
	}
}

// failingBlobs fails every Put.
type failingBlobs struct{ queue.BlobStore }

func (failingBlobs) Put(context.Context, string, []byte, string) error {
	return errors.New("disk full")
}

func TestClaimCheckBlobFailureSendsNothing(t *testing.T) {
	sender := &recordingSender{}
	cc := &queue.ClaimCheck{Sender: sender, Blobs: failingBlobs{}, MaxInline: 10}
	err := cc.Send(context.Background(), queue.Outgoing{Body: []byte("small")}, queue.Outgoing{Body: []byte("larger than ten")})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Send error = %v, want the blob store's", err)
	}
	if len(sender.sent) != 0 {
		t.Errorf("sent %d messages, want none", len(sender.sent))
	}
}

// TestClaimCheckThroughMemqueue sends a 3 MB body and a small one through
// the embedded queue and consumes them with ClaimCheck.Handler; a pointer
// whose blob is gone fails alone.
func TestClaimCheckThroughMemqueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := memqueue.New("claims", memqueue.Options{VisibilityTimeout: 5 * time.Second})
	blobs := fileblob.New(t.TempDir(), "http://unused", []byte("k"))
	cc := &queue.ClaimCheck{Sender: q, Blobs: blobs}

	big := bytes.Repeat([]byte("0123456789"), 3<<20/10)
	if err := cc.Send(ctx, queue.Outgoing{Body: big, Attributes: map[string]string{"n": "big"}}, queue.Outgoing{Body: []byte("small"), Attributes: map[string]string{"n": "small"}}); err != nil {
		t.Fatal(err)
	}
	// A pointer to a blob that expired.
	orphan := queue.Outgoing{Body: []byte(`{"claimCheck":"claimcheck/2020/01/01/gone"}`), Attributes: map[string]string{"n": "orphan", queue.ClaimCheckAttribute: "claimcheck/2020/01/01/gone"}}
	if err := q.Send(ctx, orphan); err != nil {
		t.Fatal(err)
	}

	type result struct {
		body  []byte
		attrs map[string]string
	}
	got := make(chan result, 10)
	failed := make(chan []string, 10)
	handler := cc.Handler(func(ctx context.Context, batch []queue.Message) []string {
		for _, m := range batch {
			got <- result{m.Body, m.Attributes}
		}
		return nil
	})
	go q.Start(ctx, func(ctx context.Context, batch []queue.Message) []string {
		f := handler(ctx, batch)
		failed <- f
		return f
	})

	seen := map[string]result{}
	var failures []string
	deadline := time.After(10 * time.Second)
	for len(seen) < 2 || len(failures) < 1 {
		select {
		case r := <-got:
			seen[r.attrs["n"]] = r
		case f := <-failed:
			failures = append(failures, f...)
		case <-deadline:
			t.Fatalf("timed out: seen %d messages, failures %v", len(seen), failures)
		}
	}
	if r := seen["big"]; !bytes.Equal(r.body, big) {
		t.Errorf("big body = %d bytes, want %d", len(r.body), len(big))
	}
	if _, ok := seen["big"].attrs[queue.ClaimCheckAttribute]; ok {
		t.Error("handler saw the claim-check attribute; it should be stripped")
	}
	if r := seen["small"]; string(r.body) != "small" {
		t.Errorf("small body = %q", r.body)
	}
	if _, ok := seen["orphan"]; ok {
		t.Error("handler got the orphan pointer; it should have failed before")
	}
	if len(failures) != 1 {
		t.Errorf("failures = %v, want just the orphan", failures)
	}
}
