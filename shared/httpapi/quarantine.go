package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// BlobPutter stores a blob (blob.Store does).
type BlobPutter interface {
	Put(ctx context.Context, key string, body []byte, contentType string) error
}

// MalformedPrefix is where signed webhook bodies that cannot be processed
// in full are kept.
const MalformedPrefix = "malformed/"

// Quarantine keeps signed webhook bodies that cannot be processed in full
// (not JSON, not a WhatsApp notification, or with parts that cannot be read
// or ids that are refused) under malformed/, with the reasons, so nothing
// Meta signed is lost: the webhook keeps bodies that are not JSON, the
// inbound consumer the rest.
type Quarantine struct {
	Blobs BlobPutter
	Now   func() time.Time
}

// QuarantinedBody is the JSON document kept for one body.
type QuarantinedBody struct {
	Reason   string             `json:"reason"`
	Problems []whatsapp.Problem `json:"problems,omitempty"`
	KeptAt   time.Time          `json:"keptAt"`
	// Body holds the body byte for byte when it is UTF-8 (a JSON string
	// decodes back to the exact bytes, so the signature still checks);
	// BodyBase64 holds it otherwise.
	Body       string `json:"body,omitempty"`
	BodyBase64 []byte `json:"bodyBase64,omitempty"`
}

// Keep stores body with why it was kept, under a key derived from the
// body, so a redelivery overwrites its own copy rather than adding one.
func (q *Quarantine) Keep(ctx context.Context, body []byte, reason string, problems []whatsapp.Problem) (string, error) {
	if q.Blobs == nil {
		return "", errors.New("quarantine: no blob store configured")
	}
	now := time.Now
	if q.Now != nil {
		now = q.Now
	}
	doc := QuarantinedBody{Reason: reason, Problems: problems, KeptAt: now().UTC()}
	if utf8.Valid(body) {
		doc.Body = string(body)
	} else {
		doc.BodyBase64 = body
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("quarantine: encode: %w", err)
	}
	sum := sha256.Sum256(body)
	key := MalformedPrefix + doc.KeptAt.Format("2006/01/02/") + hex.EncodeToString(sum[:16]) + ".json"
	if err := q.Blobs.Put(ctx, key, b, "application/json"); err != nil {
		return "", fmt.Errorf("quarantine: put %s: %w", key, err)
	}
	return key, nil
}
