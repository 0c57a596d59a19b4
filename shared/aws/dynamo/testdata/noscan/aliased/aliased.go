// Package aliased reads the whole table through an aliased import.
package aliased

import (
	"context"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func All(ctx context.Context, c *ddb.Client) error {
	_, err := c.Scan(ctx, &ddb.ScanInput{}) // want Scan, ScanInput
	return err
}
