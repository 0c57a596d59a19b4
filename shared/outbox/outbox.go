// Package outbox is the send path of replies: Replies stores a CRM user's
// reply as queued and puts a Job on the outbound queue; Dispatcher consumes
// the queue, calls the WhatsApp Cloud API and records the outcome on the
// message. Every step is idempotent, because the queue delivers at least
// once and the API may be retried with the same Idempotency-Key.
package outbox

import (
	"encoding/json"
	"fmt"
	"time"
)

// Job is one outbound queue message: which stored message to send. The
// message's timestamp is part of its key, so it travels with the id.
type Job struct {
	Org            string    `json:"org"`
	ConversationID string    `json:"conversationId"`
	MessageID      string    `json:"messageId"`
	Timestamp      time.Time `json:"timestamp"`
	// Attempt counts sends refused for throttling, from 1; queue
	// redeliveries do not count.
	Attempt int `json:"attempt"`
}

// Encode returns the job's queue body.
func (j Job) Encode() []byte {
	b, _ := json.Marshal(j) // strings, a time and an int always encode
	return b
}

// DecodeJob parses a queue body.
func DecodeJob(body []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		return j, fmt.Errorf("decode outbound job: %w", err)
	}
	if j.Org == "" || j.ConversationID == "" || j.MessageID == "" || j.Timestamp.IsZero() {
		return j, fmt.Errorf("decode outbound job: org, conversationId, messageId and timestamp are required")
	}
	if j.Attempt < 1 {
		j.Attempt = 1
	}
	return j, nil
}
