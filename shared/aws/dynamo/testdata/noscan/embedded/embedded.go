// Package embedded scans through a method promoted from an embedded client
// and through a method value.
package embedded

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

type wrapped struct{ *dynamodb.Client }

func All(ctx context.Context, w wrapped) {
	scan := w.Scan // want Scan
	_, _ = scan(ctx, nil)
}
