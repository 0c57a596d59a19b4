package s3blob

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/blob/blobtest"
)

// newStore starts gofakes3 in process with an in-memory backend and
// returns a Store on a fresh bucket. gofakes3 checks no signatures and no
// expiry: presigned URLs are only proven to be well-formed and usable here;
// fileblob's tests cover refusing bad signatures, and S3 itself (or MinIO)
// is what enforces them for this adapter.
func newStore(t *testing.T) (*Store, *s3.Client) {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	const bucket = "wacrm-test"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return New(client, s3.NewPresignClient(client), bucket), client
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, _ := newStore(t)
		return s
	})
}

func TestMissingBucketIsNotErrNotFound(t *testing.T) {
	_, client := newStore(t)
	s := New(client, s3.NewPresignClient(client), "no-such-bucket")
	_, _, err := s.Get(context.Background(), "k")
	if err == nil || errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get from a missing bucket: error = %v, want an error other than ErrNotFound", err)
	}
}
