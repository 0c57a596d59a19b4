package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// BenchmarkWebhookAck measures the webhook's hot path as Meta sees it:
// read the body, check its signature, enqueue it, answer 200. The queue is
// drained in the background so it does not grow without bound.
func BenchmarkWebhookAck(b *testing.B) {
	for _, sample := range []string{"message_text.json", "multi_entry_multi_change.json"} {
		b.Run(sample, func(b *testing.B) {
			body, err := os.ReadFile("../../events/whatsapp/" + sample)
			if err != nil {
				b.Fatal(err)
			}
			q := memqueue.New("inbound", memqueue.Options{BatchSize: 10, Concurrency: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = q.Start(ctx, func(context.Context, []queue.Message) []string { return nil }) }()
			a := app.New(app.Adapters{Table: nil, Blobs: fileblob.New(b.TempDir(), "http://x", []byte("k")), Inbound: q, Log: quietLog})
			h := a.Webhook(appSecret, "v")
			sig := whatsapp.Sign(appSecret, body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
				req.Header.Set("X-Hub-Signature-256", sig)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
