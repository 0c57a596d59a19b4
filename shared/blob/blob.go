// Package blob is the object storage port. Implementations: aws/s3 and
// local/fileblob; both pass blob/blobtest.
package blob

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get for a key that holds nothing.
var ErrNotFound = errors.New("blob not found")

// Store keeps bodies by key. Keys are slash-separated paths
// ("claimcheck/2026/11/23/<id>"); they never start with a slash.
type Store interface {
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// Get returns the body and its content type, or ErrNotFound.
	Get(ctx context.Context, key string) (body []byte, contentType string, err error)
	Delete(ctx context.Context, key string) error
	// PresignGet returns a URL anyone can GET for ttl; PresignPut a URL to
	// PUT a body of the given content type for ttl.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error)
}
