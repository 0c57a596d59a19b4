// Package blob is the object storage port. Implementations: aws/s3 and
// local/fileblob; both pass blob/blobtest.
package blob

import (
	"context"
	"errors"
	"fmt"
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
	// PresignGetAs is PresignGet whose response carries the given
	// Content-Disposition ("inline" or "attachment; filename=...").
	PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentDisposition string) (string, error)
	// Head returns the first n bytes under key (fewer when the body is
	// shorter), the body's full size and its content type, or ErrNotFound;
	// it never reads the whole body.
	Head(ctx context.Context, key string, n int) (head []byte, size int64, contentType string, err error)
	// PresignPost returns a browser form upload (S3's presigned POST)
	// that stores one file under p.Key only if it meets p's conditions.
	PresignPost(ctx context.Context, p PostPolicy) (PresignedPost, error)
}

// PostPolicy are the conditions a presigned POST enforces: the exact key,
// the exact Content-Type, a size between MinBytes and MaxBytes inclusive,
// and an expiry TTL from now.
type PostPolicy struct {
	Key         string
	ContentType string
	MinBytes    int64
	MaxBytes    int64
	TTL         time.Duration
}

// Validate reports a policy that could not be signed sensibly.
func (p PostPolicy) Validate() error {
	switch {
	case p.Key == "":
		return errors.New("post policy: empty key")
	case p.ContentType == "":
		return errors.New("post policy: empty content type")
	case p.MinBytes < 0 || p.MaxBytes < p.MinBytes || p.MaxBytes == 0:
		return fmt.Errorf("post policy: size range %d..%d", p.MinBytes, p.MaxBytes)
	case p.TTL <= 0:
		return fmt.Errorf("post policy: ttl %s must be positive", p.TTL)
	}
	return nil
}

// PresignedPost is a form upload: POST multipart/form-data to URL with
// every field of Fields, then the file as the last field, named "file"
// (S3 ignores fields after the file).
type PresignedPost struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}
