// Package field scans through a struct field whose name hides the client.
package field

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

type repo struct{ store *dynamodb.Client }

func (r repo) all(ctx context.Context, in *dynamodb.ScanInput) error { // want ScanInput
	_, err := r.store.Scan(ctx, in) // want Scan
	return err
}

var _ = repo.all
