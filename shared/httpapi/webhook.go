package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// MaxWebhookBytes bounds a webhook body. Meta's reach about 3 MB.
const MaxWebhookBytes = 4 << 20

// Enqueuer hands raw webhook bodies to the inbound queue.
type Enqueuer interface {
	Send(ctx context.Context, msgs ...queue.Outgoing) error
}

// Quarantine keeps bodies that can never be processed, for inspection.
type Quarantine interface {
	Put(ctx context.Context, key string, body []byte, contentType string) error
}

// Webhook receives Meta's webhooks. It checks the signature over the raw
// bytes, enqueues the body untouched and answers at once; all parsing and
// storing happens behind the queue.
type Webhook struct {
	AppSecret   []byte
	VerifyToken string
	Queue       Enqueuer
	Quarantine  Quarantine
	Log         *slog.Logger
	Now         func() time.Time
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.handshake(w, r)
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Webhook) handshake(w http.ResponseWriter, r *http.Request) {
	challenge, err := whatsapp.VerifyHandshake(r.URL.Query(), h.VerifyToken)
	if err != nil {
		h.Log.WarnContext(r.Context(), "webhook handshake refused", "err", err)
		http.Error(w, "verification failed", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, challenge)
}

func (h *Webhook) receive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.Log.WarnContext(ctx, "webhook body too large", "limit", mbe.Limit)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read body", http.StatusBadRequest)
		return
	}
	if err := whatsapp.VerifySignature(h.AppSecret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
		h.Log.WarnContext(ctx, "webhook signature refused", "err", err, "bytes", len(body))
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if !json.Valid(body) {
		// Signed by Meta yet not JSON: retrying can never help, so keep it
		// for inspection and acknowledge.
		key := h.quarantineKey(body)
		if err := h.Quarantine.Put(ctx, key, body, "application/octet-stream"); err != nil {
			h.Log.ErrorContext(ctx, "quarantine malformed webhook", "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		h.Log.WarnContext(ctx, "malformed webhook kept", "key", key, "bytes", len(body), "metric", "malformed_webhook")
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.Queue.Send(ctx, queue.Outgoing{Body: body}); err != nil {
		// Meta retries on non-2xx: nothing is lost.
		h.Log.ErrorContext(ctx, "enqueue webhook", "err", err, "bytes", len(body))
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Webhook) quarantineKey(body []byte) string {
	sum := sha256.Sum256(body)
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	return "malformed/" + now().UTC().Format("2006/01/02/") + hex.EncodeToString(sum[:16]) + ".bin"
}
