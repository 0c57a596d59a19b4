package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsDLQ is an SQS dead-letter queue. It reads the queue by receiving
// (there is no peek in SQS) and makes what it read visible again at once.
type sqsDLQ struct {
	client *sqs.Client
	url    string
	to     string // the queue to move messages back to
}

// holdS is how long a read message stays invisible to other readers while
// this command works on it; a crash in between only delays it this long.
const holdS = 60

func (q *sqsDLQ) String() string {
	if q.to == "" {
		return q.url
	}
	return q.url + " -> " + q.to
}

// receive reads up to ten messages; an empty answer after a short long poll
// means the queue has no visible message left.
func (q *sqsDLQ) receive(ctx context.Context) ([]types.Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         10,
		VisibilityTimeout:           holdS,
		WaitTimeSeconds:             1,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.url, err)
	}
	return out.Messages, nil
}

func (q *sqsDLQ) List(ctx context.Context) ([]deadLetter, error) {
	var letters []deadLetter
	var receipts []string
	var err error
	for {
		var msgs []types.Message
		if msgs, err = q.receive(ctx); err != nil || len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			letters = append(letters, letter(m))
			receipts = append(receipts, aws.ToString(m.ReceiptHandle))
		}
	}
	// Visible again at once, for the next look or the redrive.
	return letters, errors.Join(err, q.release(ctx, receipts))
}

func (q *sqsDLQ) release(ctx context.Context, receipts []string) error {
	for len(receipts) > 0 {
		n := min(10, len(receipts))
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, r := range receipts[:n] {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r), VisibilityTimeout: 0}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("make the messages visible again (they will be in %d s): %w", holdS, err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("make %d message(s) visible again: %s (they will be in %d s)", len(out.Failed), aws.ToString(out.Failed[0].Message), holdS)
		}
		receipts = receipts[n:]
	}
	return nil
}

func (q *sqsDLQ) Redrive(ctx context.Context) (int, error) {
	moved := 0
	for {
		msgs, err := q.receive(ctx)
		if err != nil || len(msgs) == 0 {
			return moved, err
		}
		for _, m := range msgs {
			// Send first, delete second: a failure between the two leaves
			// a copy in both queues, never in neither.
			_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl: aws.String(q.to), MessageBody: m.Body, MessageAttributes: m.MessageAttributes,
			})
			if err != nil {
				return moved, fmt.Errorf("send %s to %s: %w", aws.ToString(m.MessageId), q.to, err)
			}
			_, err = q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle})
			if err != nil {
				return moved, fmt.Errorf("delete %s from %s after moving it (it is in both now): %w", aws.ToString(m.MessageId), q.url, err)
			}
			moved++
		}
	}
}

func letter(m types.Message) deadLetter {
	l := deadLetter{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)}
	l.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	for k, v := range m.MessageAttributes {
		if v.StringValue == nil {
			continue
		}
		if l.Attributes == nil {
			l.Attributes = map[string]string{}
		}
		l.Attributes[k] = *v.StringValue
	}
	return l
}
