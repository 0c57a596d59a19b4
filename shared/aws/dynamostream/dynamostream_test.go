package dynamostream_test

import (
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/aws/dynamostream"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/changes/changestest"
	"github.com/wacrm/wacrm/shared/table"
)

// The contract suite on DynamoDB Local's Streams API: the table adapter
// writes, the stream adapter reads what DynamoDB recorded.
func TestContract(t *testing.T) {
	client := dynamotest.Client(t)
	streams := dynamotest.StreamsClient(t)
	changestest.Run(t, func(t *testing.T) changestest.Harness {
		name := dynamotest.CreateTable(t, client)
		arn, err := dynamostream.StreamARN(t.Context(), client, name)
		if err != nil {
			t.Fatal(err)
		}
		positions := &dynamostream.MemoryPositions{}
		tb := dynamo.New(client, name)
		return changestest.Harness{
			Table:  tb,
			Stream: dynamostream.New(streams, arn, positions),
			Restart: func(t *testing.T) (table.Table, changes.Stream) {
				return dynamo.New(client, name), dynamostream.New(streams, arn, positions)
			},
			Wait: 10 * time.Second,
		}
	})
}
