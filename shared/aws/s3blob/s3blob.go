// Package s3blob is the blob port on Amazon S3.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/wacrm/wacrm/shared/blob"
)

// Store keeps blobs in one bucket. It implements blob.Store.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// New returns a Store on bucket. presign is usually s3.NewPresignClient(client).
func New(client *s3.Client, presign *s3.PresignClient, bucket string) *Store {
	return &Store{client: client, presign: presign, bucket: bucket}
}

// Put stores body under key with its content type.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put object %s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// Get returns the body and content type under key, or blob.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, "", fmt.Errorf("get object %s/%s: %w", s.bucket, key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get object %s/%s: %w", s.bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read object %s/%s: %w", s.bucket, key, err)
	}
	return body, aws.ToString(out.ContentType), nil
}

// isNotFound recognises a missing object: NoSuchKey, or a bare 404 (as
// for HEAD requests and some S3-compatible servers). A missing bucket is
// also a 404 but a deployment error, not a missing blob.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var noSuchKey *types.NoSuchKey
	if errors.As(err, &noSuchKey) {
		return true
	}
	var notFound *types.NotFound
	if errors.As(err, &notFound) {
		return true
	}
	// GetObject does not model NoSuchBucket: tell it apart by its code.
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok && apiErr.ErrorCode() == "NoSuchBucket" {
		return false
	}
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
}

// Delete removes key; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete object %s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// PresignGet returns a URL that GETs key for ttl (at most 7 days, S3's
// limit for SigV4; shorter if the signing credentials expire sooner).
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign get %s/%s: %w", s.bucket, key, err)
	}
	return req.URL, nil
}

// PresignGetAs is PresignGet with S3's response-content-disposition
// override, which the signature covers.
func (s *Store) PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentDisposition string) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
		ResponseContentDisposition: aws.String(contentDisposition),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign get %s/%s: %w", s.bucket, key, err)
	}
	return req.URL, nil
}

// Head reads the object's size and type with HeadObject, then only its
// first n bytes with a ranged GetObject.
func (s *Store) Head(ctx context.Context, key string, n int) ([]byte, int64, string, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, 0, "", fmt.Errorf("head object %s/%s: %w", s.bucket, key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("head object %s/%s: %w", s.bucket, key, err)
	}
	size, contentType := aws.ToInt64(h.ContentLength), aws.ToString(h.ContentType)
	if size == 0 || n <= 0 {
		return nil, size, contentType, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", min(int64(n), size)-1)),
	})
	if isNotFound(err) {
		return nil, 0, "", fmt.Errorf("get object %s/%s: %w", s.bucket, key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("get object %s/%s: %w", s.bucket, key, err)
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, int64(n)))
	if err != nil {
		return nil, 0, "", fmt.Errorf("read object %s/%s: %w", s.bucket, key, err)
	}
	return head, size, contentType, nil
}

// PresignPut returns a URL that PUTs a body of contentType under key for
// ttl; the upload must send that Content-Type header, which is signed.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(key),
		ContentType: aws.String(contentType),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign put %s/%s: %w", s.bucket, key, err)
	}
	return req.URL, nil
}

// PresignPost returns a form upload whose signed policy S3 enforces: the
// exact key, {"Content-Type": p.ContentType} as a field that must match
// exactly, and content-length-range p.MinBytes..p.MaxBytes.
func (s *Store) PresignPost(ctx context.Context, p blob.PostPolicy) (blob.PresignedPost, error) {
	if err := p.Validate(); err != nil {
		return blob.PresignedPost{}, err
	}
	req, err := s.presign.PresignPostObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(p.Key),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = p.TTL
		o.Conditions = []any{
			[]any{"eq", "$Content-Type", p.ContentType},
			[]any{"content-length-range", p.MinBytes, p.MaxBytes},
		}
	})
	if err != nil {
		return blob.PresignedPost{}, fmt.Errorf("presign post %s/%s: %w", s.bucket, p.Key, err)
	}
	fields := make(map[string]string, len(req.Values)+1)
	for k, v := range req.Values {
		fields[k] = v
	}
	fields["Content-Type"] = p.ContentType
	return blob.PresignedPost{URL: req.URL, Fields: fields}, nil
}

var _ blob.Store = (*Store)(nil)
