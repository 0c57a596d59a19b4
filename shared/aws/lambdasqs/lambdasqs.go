// Package lambdasqs runs a queue.BatchHandler as a Lambda function fed by
// an SQS event source mapping with ReportBatchItemFailures: only the
// messages the handler reports failed are retried.
package lambdasqs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wacrm/wacrm/shared/queue"
)

// Handler adapts h for lambda.Start. Each record becomes a queue.Message
// (FromRecord); the IDs h returns become BatchItemFailures. IDs not in the
// batch are ignored (Lambda would fail the whole batch for them). A panic
// in h is logged and fails every record of the batch, which is what a
// crash would do, without restarting the runtime.
func Handler(h queue.BatchHandler) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, event events.SQSEvent) (resp events.SQSEventResponse, err error) {
		resp.BatchItemFailures = []events.SQSBatchItemFailure{}
		if len(event.Records) == 0 {
			return resp, nil
		}
		batch := make([]queue.Message, len(event.Records))
		inBatch := make(map[string]bool, len(event.Records))
		for i, r := range event.Records {
			batch[i] = FromRecord(r)
			inBatch[r.MessageId] = true
		}
		failed, ok := call(ctx, h, batch)
		if !ok {
			failed = make([]string, 0, len(batch))
			for _, m := range batch {
				failed = append(failed, m.ID)
			}
		}
		reported := make(map[string]bool, len(failed))
		for _, id := range failed {
			if !inBatch[id] {
				slog.WarnContext(ctx, "lambdasqs: handler failed a message that is not in the batch; ignored", "message_id", id)
				continue
			}
			if reported[id] {
				continue
			}
			reported[id] = true
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return resp, nil
	}
}

func call(ctx context.Context, h queue.BatchHandler, batch []queue.Message) (failed []string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			slog.ErrorContext(ctx, "lambdasqs: handler panicked; the whole batch will be retried", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return h(ctx, batch), true
}

// FromRecord converts one SQS record: MessageId, Body, the message
// attributes that carry a string (String and Number types; Binary ones are
// dropped, the port carries strings) and ApproximateReceiveCount (1 when
// absent or unreadable).
func FromRecord(r events.SQSMessage) queue.Message {
	msg := queue.Message{ID: r.MessageId, Body: []byte(r.Body), ReceiveCount: 1}
	if n, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"]); err == nil && n > 0 {
		msg.ReceiveCount = n
	}
	for k, v := range r.MessageAttributes {
		if v.StringValue == nil {
			continue
		}
		if msg.Attributes == nil {
			msg.Attributes = make(map[string]string, len(r.MessageAttributes))
		}
		msg.Attributes[k] = *v.StringValue
	}
	return msg
}
