// Package partiql reads the table with a PartiQL statement, which is a
// Scan when it names no key.
package partiql

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func All(ctx context.Context, c *dynamodb.Client) error {
	_, err := c.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: aws.String(`SELECT * FROM "t"`)}) // want ExecuteStatement, ExecuteStatementInput
	return err
}
