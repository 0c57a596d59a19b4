package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// BenchmarkWebhookAck measures the webhook's hot path as Meta sees it (read
// the body, check its signature, enqueue it, answer 200) beside its floor,
// the least any webhook must do: the HMAC, one JSON validity scan and an
// in-memory enqueue. Compare handler/floor within one run:
//
//	go test -run '^$' -bench WebhookAck ./shared/httpapi
//
// "handler" enqueues on an in-memory queue; "handler-local-stack-queue" on
// the persisted queue the local stack runs (each ack waits for its write).
// Queues are drained every 500 acks with the clock stopped.
func BenchmarkWebhookAck(b *testing.B) {
	for _, sample := range []string{"message_text.json", "multi_entry_multi_change.json"} {
		body, err := os.ReadFile("../../events/whatsapp/" + sample)
		if err != nil {
			b.Fatal(err)
		}
		sig := whatsapp.Sign(appSecret, body)
		b.Run(sample+"/floor", func(b *testing.B) {
			benchmarkAck(b, body, sig, floorWebhook(), nil)
		})
		b.Run(sample+"/handler", func(b *testing.B) {
			h, drain := projectWebhook(b, memqueue.New("inbound", memqueue.Options{BatchSize: 10}))
			benchmarkAck(b, body, sig, h, drain)
		})
		b.Run(sample+"/handler-local-stack-queue", func(b *testing.B) {
			q, err := memqueue.Open("inbound", memqueue.Options{BatchSize: 10, Path: filepath.Join(b.TempDir(), "queues.db.inbound"), Logger: quietLog})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = q.Close() })
			h, drain := projectWebhook(b, q)
			benchmarkAck(b, body, sig, h, drain)
		})
	}
}

func benchmarkAck(b *testing.B, body []byte, sig string, h http.Handler, drain func()) {
	// One request and one response writer, rewound each time, so the
	// allocations counted are the handler's.
	req := httptest.NewRequest(http.MethodPost, "/webhook", nil)
	req.Header.Set(whatsapp.SignatureHeader, sig)
	req.ContentLength = int64(len(body))
	rb := &rewindBody{}
	req.Body = rb
	w := &statusWriter{header: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n++; n%500 == 0 && drain != nil {
			b.StopTimer() // consuming is not the ack path
			drain()
			b.StartTimer()
		}
		rb.Reset(body)
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// statusWriter keeps the status and drops the body.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.header }
func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *statusWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// projectWebhook is the app's webhook over q, and a drain that empties q.
func projectWebhook(b *testing.B, q *memqueue.Queue) (http.Handler, func()) {
	a := app.New(app.Adapters{Table: nil, Blobs: fileblob.New(b.TempDir(), "http://x", []byte("k")), Inbound: q, Log: quietLog})
	drain := func() {
		for {
			got, err := q.Receive(context.Background(), 10, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				return
			}
			receipts := make([]string, len(got))
			for i, d := range got {
				receipts[i] = d.Receipt
			}
			if err := q.Delete(context.Background(), receipts...); err != nil {
				b.Fatal(err)
			}
		}
	}
	return a.Webhook(appSecret, "v"), drain
}

// floorWebhook checks the signature and that the body is JSON, and appends
// the body to a slice, emptied whenever it holds a thousand.
func floorWebhook() http.Handler {
	var mu sync.Mutex
	var queued [][]byte
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength) // the benchmark declares it, as Meta does
		_, err := io.ReadFull(r.Body, body)
		if err != nil || whatsapp.VerifySignature(appSecret, body, r.Header.Get(whatsapp.SignatureHeader)) != nil || !json.Valid(body) {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		mu.Lock()
		if queued = append(queued, body); len(queued) == 1000 {
			queued = queued[:0]
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
}
