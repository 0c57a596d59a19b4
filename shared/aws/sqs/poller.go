package sqs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wacrm/wacrm/shared/queue"
)

// PollerOptions configure a Poller. Zero values take the defaults noted.
type PollerOptions struct {
	// MaxMessages per ReceiveMessage call and handler batch, 1-10.
	// Default 10.
	MaxMessages int
	// WaitTime is the long-poll wait of each ReceiveMessage, at most 20 s.
	// Default 20 s.
	WaitTime time.Duration
	// VisibilityTimeout overrides the queue's for the messages received
	// (whole seconds). It is also the handler's deadline. Default: the
	// queue's own, read once when Run starts.
	VisibilityTimeout time.Duration
	// Concurrency is the number of receive-and-handle loops. Default 1.
	Concurrency int
	// RetryDelay, when set, makes a failed message visible again after
	// RetryDelay(its receive count) (whole seconds, ChangeMessageVisibility)
	// instead of after the full visibility timeout.
	RetryDelay func(receiveCount int) time.Duration
	// Logger reports receive, delete and handler errors; slog.Default()
	// when nil.
	Logger *slog.Logger
}

// Poller consumes one queue with long polling.
type Poller struct {
	client   *sqs.Client
	queueURL string
	opts     PollerOptions
}

// NewPoller returns a Poller for queueURL.
func NewPoller(client *sqs.Client, queueURL string, opts PollerOptions) *Poller {
	if opts.MaxMessages <= 0 || opts.MaxMessages > 10 {
		opts.MaxMessages = 10
	}
	if opts.WaitTime <= 0 || opts.WaitTime > 20*time.Second {
		opts.WaitTime = 20 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Poller{client: client, queueURL: queueURL, opts: opts}
}

// Run receives batches and calls handler until ctx ends, then waits for
// the handler calls under way (their context is not cancelled with ctx,
// only at the visibility timeout, so a shutdown lets batches finish) and
// returns nil. Messages the handler does not report failed are deleted;
// failed ones, and every message of a batch whose handler panics, are left
// to reappear (sooner with RetryDelay) and reach the dead-letter queue
// after the queue's maxReceiveCount.
func (p *Poller) Run(ctx context.Context, handler queue.BatchHandler) error {
	visibility := p.opts.VisibilityTimeout
	if visibility <= 0 {
		v, err := p.queueVisibility(ctx)
		if err != nil {
			return err
		}
		visibility = v
	}
	var wg sync.WaitGroup
	for range p.opts.Concurrency {
		wg.Go(func() { p.loop(ctx, handler, visibility) })
	}
	wg.Wait()
	return nil
}

func (p *Poller) queueVisibility(ctx context.Context) (time.Duration, error) {
	out, err := p.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return 0, fmt.Errorf("sqs poller: get visibility timeout of %s: %w", p.queueURL, err)
	}
	secs, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return 0, fmt.Errorf("sqs poller: visibility timeout of %s: %w", p.queueURL, err)
	}
	return time.Duration(secs) * time.Second, nil
}

func (p *Poller) loop(ctx context.Context, handler queue.BatchHandler, visibility time.Duration) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		in := &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.queueURL),
			MaxNumberOfMessages:         int32(p.opts.MaxMessages),
			WaitTimeSeconds:             int32(p.opts.WaitTime / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		}
		if p.opts.VisibilityTimeout > 0 {
			in.VisibilityTimeout = int32(p.opts.VisibilityTimeout / time.Second)
		}
		out, err := p.client.ReceiveMessage(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.opts.Logger.ErrorContext(ctx, "sqs poller: receive", "queue_url", p.queueURL, "err", err)
			_ = wait(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		if len(out.Messages) > 0 {
			p.handle(ctx, handler, visibility, out.Messages)
		}
	}
}

func (p *Poller) handle(ctx context.Context, handler queue.BatchHandler, visibility time.Duration, received []types.Message) {
	batch := make([]queue.Message, len(received))
	for i, m := range received {
		batch[i] = FromSQS(m)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if visibility > 0 { // a queue may have a zero visibility timeout
		hctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), visibility)
	}
	defer cancel()
	failed, ok := call(hctx, p.opts.Logger, handler, batch)
	if !ok {
		return // the batch reappears after the visibility timeout
	}
	failedSet := make(map[string]bool, len(failed))
	for _, id := range failed {
		failedSet[id] = true
	}
	var done, retry []types.Message
	for i, m := range received {
		if failedSet[batch[i].ID] {
			retry = append(retry, m)
		} else {
			done = append(done, m)
		}
	}
	// The batch is handled: finish its bookkeeping even if ctx just ended.
	bctx := context.WithoutCancel(ctx)
	p.delete(bctx, done)
	if p.opts.RetryDelay != nil {
		p.retrySooner(bctx, retry)
	}
}

func (p *Poller) delete(ctx context.Context, msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	entries := make([]types.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	out, err := p.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: entries})
	if err != nil {
		// They will be delivered again; consumers are idempotent.
		p.opts.Logger.ErrorContext(ctx, "sqs poller: delete handled messages", "queue_url", p.queueURL, "count", len(msgs), "err", err)
		return
	}
	for _, f := range out.Failed {
		p.opts.Logger.ErrorContext(ctx, "sqs poller: delete handled message", "queue_url", p.queueURL, "entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
	}
}

func (p *Poller) retrySooner(ctx context.Context, msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		delay := p.opts.RetryDelay(FromSQS(m).ReceiveCount)
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			ReceiptHandle:     m.ReceiptHandle,
			VisibilityTimeout: int32(max(delay, 0) / time.Second),
		}
	}
	out, err := p.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(p.queueURL), Entries: entries})
	if err != nil {
		// They reappear after the full visibility timeout instead.
		p.opts.Logger.WarnContext(ctx, "sqs poller: change visibility of failed messages", "queue_url", p.queueURL, "count", len(msgs), "err", err)
		return
	}
	for _, f := range out.Failed {
		p.opts.Logger.WarnContext(ctx, "sqs poller: change visibility of failed message", "queue_url", p.queueURL, "entry", aws.ToString(f.Id), "code", aws.ToString(f.Code))
	}
}

func call(ctx context.Context, log *slog.Logger, handler queue.BatchHandler, batch []queue.Message) (failed []string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "sqs poller: handler panicked; the batch will be retried", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return handler(ctx, batch), true
}

// FromSQS converts a received SQS message: its String and Number message
// attributes (binary ones are dropped, the port carries strings) and its
// ApproximateReceiveCount system attribute (1 when absent).
func FromSQS(m types.Message) queue.Message {
	msg := queue.Message{
		ID:           aws.ToString(m.MessageId),
		Body:         []byte(aws.ToString(m.Body)),
		ReceiveCount: 1,
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		msg.ReceiveCount = n
	}
	for k, v := range m.MessageAttributes {
		if v.StringValue == nil {
			continue
		}
		if msg.Attributes == nil {
			msg.Attributes = make(map[string]string, len(m.MessageAttributes))
		}
		msg.Attributes[k] = *v.StringValue
	}
	return msg
}
