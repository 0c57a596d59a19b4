// Package lambdastream runs a changes.Consumer as the handler of a Lambda
// function fed by the table's DynamoDB stream (an event source mapping with
// the consumer's filters as FilterCriteria and ReportBatchItemFailures).
//
// Records are handled in order. The first that fails is reported as the
// batch item failure (its sequence number): Lambda checkpoints the records
// before it and retries from it, with the mapping's retry limit, bisection
// and on-failure destination. So a change can be handled twice (a retry
// after a timeout, or after a later record failed in an earlier attempt);
// consumers are idempotent (see package changes).
package lambdastream

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/table"
)

// Handler returns the Lambda handler for the consumer.
func Handler(c changes.Consumer, log *slog.Logger) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if err := c.Check(); err != nil {
			return events.DynamoDBEventResponse{}, err // a wiring bug: fail the whole batch
		}
		for _, r := range ev.Records {
			ch, err := Change(r)
			if err == nil && !changes.MatchAny(c.Filters, ch) {
				continue
			}
			if err == nil {
				err = c.Handle(ctx, ch)
			}
			if err != nil {
				log.ErrorContext(ctx, "change failed; Lambda retries from it", "consumer", c.Name, "eventID", r.EventID,
					"sequenceNumber", r.Change.SequenceNumber, "err", err, metric.ChangeFailed.Attr())
				return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
					{ItemIdentifier: r.Change.SequenceNumber},
				}}, nil
			}
		}
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}, nil
	}
}

// Change converts a stream record of a Lambda event into a change; its
// images decode as table items, with the table adapter's codec.
func Change(r events.DynamoDBEventRecord) (changes.Change, error) {
	d := r.Change
	c := changes.Change{
		ID:       r.EventID,
		Position: d.SequenceNumber,
		Event:    changes.Event(r.EventName),
		Key:      table.Key{PK: stringAttr(d.Keys[table.AttrPK]), SK: stringAttr(d.Keys[table.AttrSK])},
		Time:     d.ApproximateCreationDateTime.UTC(),
		Expired: r.UserIdentity != nil && r.UserIdentity.Type == "Service" &&
			r.UserIdentity.PrincipalID == "dynamodb.amazonaws.com",
	}
	switch c.Event {
	case changes.Insert, changes.Modify, changes.Remove:
	default:
		return changes.Change{}, fmt.Errorf("stream record %s: unknown event %q", r.EventID, r.EventName)
	}
	var err error
	if c.Old, err = image(d.OldImage); err != nil {
		return changes.Change{}, fmt.Errorf("stream record %s: old image: %w", r.EventID, err)
	}
	if c.New, err = image(d.NewImage); err != nil {
		return changes.Change{}, fmt.Errorf("stream record %s: new image: %w", r.EventID, err)
	}
	return c, nil
}

func stringAttr(av events.DynamoDBAttributeValue) string {
	if av.DataType() == events.DataTypeString {
		return av.String()
	}
	return ""
}

func image(item map[string]events.DynamoDBAttributeValue) (changes.Image, error) {
	if item == nil {
		return nil, nil
	}
	m := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		m[k] = attr(v)
	}
	return dynamo.Document(m)
}

// attr converts aws-lambda-go's attribute value into the SDK's.
func attr(av events.DynamoDBAttributeValue) types.AttributeValue {
	switch av.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: av.String()}
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: av.Number()}
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: av.Boolean()}
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: av.Binary()}
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: av.StringSet()}
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: av.NumberSet()}
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: av.BinarySet()}
	case events.DataTypeList:
		l := make([]types.AttributeValue, len(av.List()))
		for i, e := range av.List() {
			l[i] = attr(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case events.DataTypeMap:
		m := make(map[string]types.AttributeValue, len(av.Map()))
		for k, e := range av.Map() {
			m[k] = attr(e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberNULL{Value: true}
}
