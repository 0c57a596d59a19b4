package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/blob"
)

// ClaimCheckAttribute names the message attribute that holds the blob key
// of a body sent through the blob store.
const ClaimCheckAttribute = "wacrm-claim-check"

// DefaultClaimCheckPrefix is where claim-checked bodies go when
// ClaimCheck.Prefix is empty. The bucket's lifecycle rule expires it.
const DefaultClaimCheckPrefix = "claimcheck/"

// ErrClaimMissing means a message points at a blob that is not there
// (expired or deleted). Retrying will not bring it back: the message
// belongs in the dead-letter queue.
var ErrClaimMissing = errors.New("claim-checked body is missing from the blob store")

// BlobStore is the part of blob.Store the claim check uses.
type BlobStore interface {
	Put(ctx context.Context, key string, body []byte, contentType string) error
	Get(ctx context.Context, key string) (body []byte, contentType string, err error)
	Delete(ctx context.Context, key string) error
}

// ClaimCheck is a Sender that carries bodies too large (or not text enough)
// for the queue through a blob store: it stores the body under
// Prefix+"yyyy/mm/dd/"+random id and sends a small pointer message carrying
// ClaimCheckAttribute instead. Consumers get the real body back with
// Resolve, or by wrapping their handler with Handler.
type ClaimCheck struct {
	Sender Sender
	Blobs  BlobStore
	// Prefix of the blob keys; DefaultClaimCheckPrefix when empty.
	Prefix string
	// MaxInline is the largest message (MessageSize) sent as is;
	// MaxBodyBytes when zero.
	MaxInline int
	// Logger reports bodies Handler could not resolve; slog.Default() when nil.
	Logger *slog.Logger
}

// claimPointer is the body of a pointer message, for people reading a
// queue; the attribute is what Resolve trusts.
type claimPointer struct {
	ClaimCheck string `json:"claimCheck"`
	Bytes      int    `json:"bytes"`
}

func (c *ClaimCheck) prefix() string {
	if c.Prefix == "" {
		return DefaultClaimCheckPrefix
	}
	return c.Prefix
}

func (c *ClaimCheck) maxInline() int {
	if c.MaxInline <= 0 {
		return MaxBodyBytes
	}
	return c.MaxInline
}

// Send sends msgs, storing the bodies that would not fit (or are not valid
// SQS text) in the blob store first. Blobs of a failed send are left for
// the lifecycle rule to expire.
func (c *ClaimCheck) Send(ctx context.Context, msgs ...Outgoing) error {
	out := make([]Outgoing, len(msgs)) // a copy: the caller's messages keep no mark
	for i, msg := range msgs {
		if _, ok := msg.Attributes[ClaimCheckAttribute]; ok {
			return fmt.Errorf("claim check: message %d already carries attribute %s", i, ClaimCheckAttribute)
		}
		if MessageSize(msg) <= c.maxInline() && ValidText(msg.Body) {
			out[i] = msg
			out[i].textChecked = true
			continue
		}
		key, err := c.store(ctx, msg.Body)
		if err != nil {
			return err
		}
		pointer, err := json.Marshal(claimPointer{ClaimCheck: key, Bytes: len(msg.Body)})
		if err != nil {
			return fmt.Errorf("claim check: encode pointer: %w", err)
		}
		attrs := maps.Clone(msg.Attributes)
		if attrs == nil {
			attrs = make(map[string]string, 1)
		}
		attrs[ClaimCheckAttribute] = key
		out[i] = Outgoing{Body: pointer, Attributes: attrs, Delay: msg.Delay}
	}
	return c.Sender.Send(ctx, out...)
}

func (c *ClaimCheck) store(ctx context.Context, body []byte) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("claim check: random id: %w", err)
	}
	key := c.prefix() + time.Now().UTC().Format("2006/01/02/") + hex.EncodeToString(id[:])
	if err := c.Blobs.Put(ctx, key, body, "application/octet-stream"); err != nil {
		return "", fmt.Errorf("claim check: put %s: %w", key, err)
	}
	return key, nil
}

// Claimed reports whether msg's body lives in the blob store, and its key.
func Claimed(msg Message) (key string, ok bool) {
	key, ok = msg.Attributes[ClaimCheckAttribute]
	return key, ok
}

// Resolve returns msg's real body: the body itself, or the blob it points
// at. A pointer to a missing blob yields an error wrapping ErrClaimMissing.
func (c *ClaimCheck) Resolve(ctx context.Context, msg Message) ([]byte, error) {
	key, ok := Claimed(msg)
	if !ok {
		return msg.Body, nil
	}
	if !strings.HasPrefix(key, c.prefix()) {
		// Only our own pointers are followed, so a message cannot make a
		// consumer read an arbitrary blob.
		return nil, fmt.Errorf("claim check: message %s points outside %q: %q", msg.ID, c.prefix(), key)
	}
	body, _, err := c.Blobs.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("claim check: message %s: %w: %s", msg.ID, ErrClaimMissing, key)
	}
	if err != nil {
		return nil, fmt.Errorf("claim check: message %s: get %s: %w", msg.ID, key, err)
	}
	return body, nil
}

// Release deletes the blob behind msg, if any. Call it only once the
// message is processed for good: a redelivery of a released message fails
// with ErrClaimMissing (and ends in the dead-letter queue). Not releasing is
// safe; the lifecycle rule expires claim-checked blobs.
func (c *ClaimCheck) Release(ctx context.Context, msg Message) error {
	key, ok := Claimed(msg)
	if !ok || !strings.HasPrefix(key, c.prefix()) {
		return nil
	}
	if err := c.Blobs.Delete(ctx, key); err != nil {
		return fmt.Errorf("claim check: delete %s: %w", key, err)
	}
	return nil
}

// Handler wraps h so that it sees real bodies: pointer messages are
// resolved (and lose ClaimCheckAttribute) before h runs. A message whose
// body cannot be resolved is reported failed, so it is retried and, if the
// blob is gone for good, ends in the dead-letter queue.
func (c *ClaimCheck) Handler(h BatchHandler) BatchHandler {
	return func(ctx context.Context, batch []Message) []string {
		var failed []string
		resolved := make([]Message, 0, len(batch))
		for _, msg := range batch {
			if _, ok := Claimed(msg); !ok {
				resolved = append(resolved, msg)
				continue
			}
			body, err := c.Resolve(ctx, msg)
			if err != nil {
				c.logger().ErrorContext(ctx, "claim check: cannot resolve message body", "message_id", msg.ID, "receive_count", msg.ReceiveCount, "err", err)
				failed = append(failed, msg.ID)
				continue
			}
			attrs := maps.Clone(msg.Attributes)
			delete(attrs, ClaimCheckAttribute)
			msg.Body, msg.Attributes = body, attrs
			resolved = append(resolved, msg)
		}
		if len(resolved) > 0 {
			failed = append(failed, h(ctx, resolved)...)
		}
		return failed
	}
}

func (c *ClaimCheck) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}
