// Package query lists with a Query and has a method of its own named Scan,
// which reads no table: nothing here is a finding.
package query

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

type rows struct{}

func (rows) Scan(dest ...any) error { return nil }

func Page(ctx context.Context, c *dynamodb.Client) error {
	_, err := c.Query(ctx, &dynamodb.QueryInput{})
	_ = rows{}.Scan()
	return err
}
