package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// MaxWebhookBytes bounds a webhook body. Meta's reach about 3 MB.
const MaxWebhookBytes = 4 << 20

// Enqueuer hands raw webhook bodies to the inbound queue.
type Enqueuer interface {
	Send(ctx context.Context, msgs ...queue.Outgoing) error
}

// PlaceholderAppSecret is the app secret the CDK stack creates the webhook
// secret with. It is public, so it never verifies anything: the webhook
// answers 503 until the real one is in.
const PlaceholderAppSecret = "REPLACE_WITH_META_APP_SECRET"

// WebhookSecret is what the webhook checks requests with. PreviousAppSecret
// is accepted too, so a rotation loses nothing signed with the old secret.
type WebhookSecret struct {
	AppSecret         string `json:"appSecret"`
	PreviousAppSecret string `json:"previousAppSecret,omitempty"`
	VerifyToken       string `json:"verifyToken"`
}

// WebhookSecrets gives the webhook its current secret on every request; the
// Lambda's reads Secrets Manager behind a short cache (see awsapp), so a new
// secret is picked up without a redeploy.
type WebhookSecrets interface {
	WebhookSecret(ctx context.Context) (WebhookSecret, error)
}

// StaticSecret is a secret that never changes (the local stack, tests).
type StaticSecret WebhookSecret

func (s StaticSecret) WebhookSecret(context.Context) (WebhookSecret, error) {
	return WebhookSecret(s), nil
}

// usable reports whether an app secret may verify a signature.
func usable(appSecret string) bool { return appSecret != "" && appSecret != PlaceholderAppSecret }

// Webhook receives Meta's webhooks. It checks the signature over the raw
// bytes, enqueues the body untouched and answers at once; all parsing and
// storing happens behind the queue.
type Webhook struct {
	Secrets    WebhookSecrets
	Queue      Enqueuer
	Quarantine *Quarantine
	Log        *slog.Logger
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.handshake(w, r)
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		webhookError(w, apperr.MethodNotAllowed, "The webhook takes GET (Meta's verification) and POST (events).")
	}
}

func (h *Webhook) handshake(w http.ResponseWriter, r *http.Request) {
	secret, err := h.Secrets.WebhookSecret(r.Context())
	if err != nil {
		h.Log.ErrorContext(r.Context(), "webhook secret unavailable", "err", err)
		webhookError(w, apperr.Unavailable, "Try again later.")
		return
	}
	challenge, err := whatsapp.VerifyHandshake(r.URL.Query(), secret.VerifyToken)
	if err != nil {
		h.Log.WarnContext(r.Context(), "webhook handshake refused", "err", err)
		webhookError(w, apperr.Forbidden, "The verification request does not match this webhook's verify token.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, challenge)
}

func (h *Webhook) receive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	secret, err := h.Secrets.WebhookSecret(ctx)
	if err != nil {
		// Meta retries on non-2xx: nothing is lost.
		h.Log.ErrorContext(ctx, "webhook secret unavailable", "err", err)
		webhookError(w, apperr.Unavailable, "Try again later.")
		return
	}
	if !usable(secret.AppSecret) {
		h.Log.ErrorContext(ctx, "webhook refused: the app secret is still the placeholder; put Meta's app secret in",
			metric.WebhookSecretPlaceholder.Attr())
		webhookError(w, apperr.Unavailable, "The webhook is not configured yet: its app secret is still the placeholder.")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.Log.WarnContext(ctx, "webhook body too large", "limit", mbe.Limit)
			webhookError(w, apperr.TooLarge, fmt.Sprintf("The body is larger than %d bytes.", mbe.Limit))
			return
		}
		webhookError(w, apperr.Invalid, "The body could not be read.")
		return
	}
	if err := h.verify(ctx, secret, body, r.Header.Get(whatsapp.SignatureHeader)); err != nil {
		h.Log.WarnContext(ctx, "webhook signature refused", "err", err, "bytes", len(body), metric.WebhookSignatureRefused.Attr())
		webhookError(w, apperr.Unauthenticated, "The X-Hub-Signature-256 header does not sign this body.")
		return
	}
	if !json.Valid(body) {
		// Signed by Meta yet not JSON: retrying can never help, so keep it
		// for inspection and acknowledge.
		key, err := h.Quarantine.Keep(ctx, body, "signed webhook body is not JSON", nil)
		if err != nil {
			h.Log.ErrorContext(ctx, "quarantine malformed webhook", "err", err)
			webhookError(w, apperr.Unavailable, "Try again later.")
			return
		}
		h.Log.WarnContext(ctx, "malformed webhook kept", "key", key, "bytes", len(body), metric.MalformedWebhook.Attr())
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.Queue.Send(ctx, queue.Outgoing{Body: body}); err != nil {
		// Meta retries on non-2xx: nothing is lost.
		h.Log.ErrorContext(ctx, "enqueue webhook", "err", err, "bytes", len(body))
		webhookError(w, apperr.Unavailable, "Try again later.")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readBody reads the body in one allocation when its length is declared
// (Meta declares it; the server never reads past it), else growing up to
// MaxWebhookBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= MaxWebhookBytes {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
}

// verify checks the signature against the current app secret and, during
// a rotation, the previous one.
func (h *Webhook) verify(ctx context.Context, secret WebhookSecret, body []byte, header string) error {
	err := whatsapp.VerifySignature([]byte(secret.AppSecret), body, header)
	if errors.Is(err, whatsapp.ErrSignatureInvalid) && usable(secret.PreviousAppSecret) {
		if whatsapp.VerifySignature([]byte(secret.PreviousAppSecret), body, header) == nil {
			// Meta still signs with the secret being replaced: the rotation
			// is not finished (a warning, so it is counted in production).
			h.Log.WarnContext(ctx, "webhook signed with the previous app secret", metric.WebhookPreviousSecret.Attr())
			return nil
		}
	}
	return err
}

// webhookError answers in the API's error shape, like every other route;
// Meta only reads the status (and retries a 5xx).
func webhookError(w http.ResponseWriter, code apperr.Code, message string) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
	writeJSON(w, statusOf(code), body)
}
