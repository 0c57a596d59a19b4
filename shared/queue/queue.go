// Package queue is the messaging port: at-least-once delivery of opaque
// bodies, consumed in batches with per-message failure, like SQS with a
// dead-letter queue. Implementations: aws/sqs and local/memqueue; both pass
// queue/queuetest.
package queue

import (
	"context"
	"time"
)

// Outgoing is a message to send.
type Outgoing struct {
	Body       []byte
	Attributes map[string]string
	Delay      time.Duration // delivery delay, at most 15 minutes
	// textChecked: ClaimCheck has just found Body to be valid SQS text, so
	// Validate does not scan it a second time on the webhook's ack path.
	// Unexported: no other sender can vouch for a body.
	textChecked bool
}

// Message is a delivered message. The same message may be delivered more
// than once; consumers must be idempotent.
type Message struct {
	ID           string // unique per message (SQS MessageId), stable across redeliveries
	Body         []byte
	Attributes   map[string]string
	ReceiveCount int // 1 on first delivery
}

// Sender sends messages. Implementations batch internally where the
// service allows it.
type Sender interface {
	Send(ctx context.Context, msgs ...Outgoing) error
}

// BatchHandler consumes one batch and returns the IDs of the messages that
// failed and should be redelivered after the visibility timeout. Messages
// not listed are deleted. A message that fails MaxReceiveCount times goes to
// the dead-letter queue.
type BatchHandler func(ctx context.Context, batch []Message) (failed []string)

// MaxReceiveCount is the redrive limit used by every queue in the stack.
const MaxReceiveCount = 5

// MaxBodyBytes is the largest body sent inline; larger ones go through the
// blob store (see ClaimCheck). SQS allows 256 KiB including attributes.
const MaxBodyBytes = 240 * 1024
