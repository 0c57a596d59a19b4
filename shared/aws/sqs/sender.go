// Package sqs is the queue port on Amazon SQS: a Sender that batches with
// SendMessageBatch, a Poller that consumes a queue outside Lambda (tests,
// tools, long-running workers), and helpers to create queues with a
// dead-letter queue. Lambda consumers use aws/lambdasqs instead.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wacrm/wacrm/shared/queue"
)

// SQS's batch limits.
const (
	maxBatchEntries = 10
	maxBatchBytes   = 256 * 1024
)

// Sender sends to one queue. It implements queue.Sender.
type Sender struct {
	client   *sqs.Client
	queueURL string
	// attempts is how many times an entry SQS failed on its side is sent.
	attempts int
	backoff  time.Duration
}

// NewSender returns a Sender for queueURL.
func NewSender(client *sqs.Client, queueURL string) *Sender {
	return &Sender{client: client, queueURL: queueURL, attempts: 3, backoff: 100 * time.Millisecond}
}

// Send sends msgs with SendMessageBatch, ten (and at most 256 KiB) at a
// time. Every message is checked with queue.Validate first and an invalid
// one refuses the whole call before anything is sent. Entries SQS fails on
// its side are sent again a few times; the error lists those that still
// failed. On error some messages may have been sent: resending them all is
// safe, consumers are idempotent.
func (s *Sender) Send(ctx context.Context, msgs ...queue.Outgoing) error {
	for i, m := range msgs {
		if err := queue.Validate(m); err != nil {
			return fmt.Errorf("sqs send to %s: message %d: %w", s.queueURL, i, err)
		}
	}
	for start := 0; start < len(msgs); {
		end, size := start, 0
		for end < len(msgs) && end-start < maxBatchEntries {
			n := queue.MessageSize(msgs[end])
			if end > start && size+n > maxBatchBytes {
				break
			}
			size += n
			end++
		}
		if err := s.sendBatch(ctx, start, msgs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// sendBatch sends up to ten messages; offset numbers them in errors.
func (s *Sender) sendBatch(ctx context.Context, offset int, msgs []queue.Outgoing) error {
	pending := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		pending[i] = entry(strconv.Itoa(offset+i), m)
	}
	var failures []string
	for attempt := 1; len(pending) > 0; attempt++ {
		out, err := s.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
			QueueUrl: aws.String(s.queueURL),
			Entries:  pending,
		})
		if err != nil {
			return fmt.Errorf("sqs send batch to %s: %w", s.queueURL, err)
		}
		if len(out.Failed) == 0 {
			return nil
		}
		byID := make(map[string]types.SendMessageBatchRequestEntry, len(pending))
		for _, e := range pending {
			byID[aws.ToString(e.Id)] = e
		}
		var retry []types.SendMessageBatchRequestEntry
		failures = failures[:0]
		for _, f := range out.Failed {
			id := aws.ToString(f.Id)
			failures = append(failures, fmt.Sprintf("message %s: %s: %s", id, aws.ToString(f.Code), aws.ToString(f.Message)))
			if e, ok := byID[id]; ok && !f.SenderFault {
				retry = append(retry, e)
			}
		}
		if len(retry) < len(out.Failed) || attempt >= s.attempts {
			break // a sender fault will not go away by retrying
		}
		pending = retry
		if err := wait(ctx, s.backoff*time.Duration(attempt)); err != nil {
			return fmt.Errorf("sqs send batch to %s: %w", s.queueURL, err)
		}
	}
	return fmt.Errorf("sqs send batch to %s: %d entries failed: %s", s.queueURL, len(failures), strings.Join(failures, "; "))
}

func entry(id string, m queue.Outgoing) types.SendMessageBatchRequestEntry {
	e := types.SendMessageBatchRequestEntry{
		Id:          aws.String(id),
		MessageBody: aws.String(string(m.Body)),
	}
	if m.Delay > 0 {
		// SQS counts whole seconds; round up so a delay is never shortened.
		e.DelaySeconds = int32((m.Delay + time.Second - 1) / time.Second)
	}
	if len(m.Attributes) > 0 {
		e.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		for k, v := range m.Attributes {
			e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	return e
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CreateQueueWithDLQ creates (or finds, CreateQueue is idempotent) the
// standard queue name and its dead-letter queue name+"-dlq", with a
// redrive policy of maxReceive receives and the given visibility timeout
// (whole seconds). The dead-letter queue keeps messages 14 days, SQS's
// maximum. Meant for tests and tools; the deployed queues come from the CDK.
func CreateQueueWithDLQ(ctx context.Context, client *sqs.Client, name string, maxReceive int, visibility time.Duration) (queueURL, dlqURL string, err error) {
	if maxReceive < 1 {
		return "", "", errors.New("create queue: maxReceive must be at least 1")
	}
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(name + "-dlq"),
		Attributes: map[string]string{string(types.QueueAttributeNameMessageRetentionPeriod): "1209600"},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("get arn of queue %s-dlq: %w", name, err)
	}
	dlqARN := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	if dlqARN == "" {
		return "", "", fmt.Errorf("get arn of queue %s-dlq: no QueueArn attribute", name)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, maxReceive)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibility / time.Second)),
			string(types.QueueAttributeNameRedrivePolicy):     redrive,
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

var _ queue.Sender = (*Sender)(nil)
