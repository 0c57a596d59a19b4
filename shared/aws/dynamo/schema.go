package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wacrm/wacrm/shared/table"
)

// The table's schema lives here only; the CDK stack mirrors it and its
// test compares against TableDefinition.

// TTLAttribute is the attribute DynamoDB's TTL reads (unix seconds).
const TTLAttribute = table.AttrTTL

// GSIs are the table's global secondary indexes, each keyed by the string
// attributes <name>PK and <name>SK, projecting all attributes.
var GSIs = table.Indexes

// StreamView is what the table's stream records carry: both images, so a
// consumer sees what a write changed (changes.Change Old and New).
const StreamView = types.StreamViewTypeNewAndOldImages

// TableDefinition is the table: on-demand, string keys PK and SK, the
// sparse GSIs, and a stream of NEW_AND_OLD_IMAGES (the change stream).
func TableDefinition(name string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: StreamView,
		},
		KeySchema: keySchema(table.AttrPK, table.AttrSK),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(table.AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(table.AttrSK), AttributeType: types.ScalarAttributeTypeS},
		},
	}
	for _, ix := range GSIs {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String(ix.PKAttr()), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String(ix.SKAttr()), AttributeType: types.ScalarAttributeTypeS},
		)
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(string(ix)),
			KeySchema:  keySchema(ix.PKAttr(), ix.SKAttr()),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	return in
}

func keySchema(pk, sk string) []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
	}
}

// CreateTable creates the table (TableDefinition), waits until it is
// ACTIVE and enables TTL on TTLAttribute. A table of that name that exists
// already is kept as it is, and its stream and TTL are still ensured.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	res, err := client.CreateTable(ctx, TableDefinition(name))
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
	case err != nil:
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if res == nil || res.TableDescription == nil || res.TableDescription.TableStatus != types.TableStatusActive {
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
		})
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, 5*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", name, err)
		}
	}
	if err := ensureStream(ctx, client, name); err != nil {
		return err
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		return fmt.Errorf("describe ttl of %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on %s: %w", name, err)
	}
	return nil
}

// ensureStream turns the stream on for a table created without it.
func ensureStream(ctx context.Context, client *dynamodb.Client, name string) error {
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", name, err)
	}
	if spec := desc.Table.StreamSpecification; spec != nil && aws.ToBool(spec.StreamEnabled) {
		if spec.StreamViewType != StreamView {
			return fmt.Errorf("table %s streams %s, want %s", name, spec.StreamViewType, StreamView)
		}
		return nil
	}
	_, err = client.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName:           &name,
		StreamSpecification: TableDefinition(name).StreamSpecification,
	})
	if err != nil {
		return fmt.Errorf("enable the stream of %s: %w", name, err)
	}
	return nil
}
