// Package changes is the table's change stream: every write to the table
// (a put, an overwrite, a delete, each op of a multi-op Write, an expiry by
// ttl) leaves one Change, in the same atomic step as the write itself. Work
// that follows a write (live push, notifications, auto-recharge...) reads
// this stream instead of making a second write from the request path, so
// nothing is lost between two writes: if the write happened, its change will
// be delivered.
//
// # Delivery: at least once, in order per item
//
// A change can be delivered more than once (a consumer that crashed after
// handling a change but before its position was committed sees it again; on
// AWS, Lambda retries a batch). Every handler must be idempotent: use
// Change.ID (stable across redeliveries) or a condition on the item's state
// (a version, a timestamp already applied) to recognise a repeat. Changes of
// one item arrive in the order they were written; changes of different items
// may interleave.
//
// # Two ways to consume
//
//   - In process (the local stack, and the contract suite on DynamoDB Local):
//     a Runner reads a Stream for each named Consumer, filters, calls the
//     handler with retries and backoff, dead-letters a change that keeps
//     failing, and commits the consumer's position, which survives a
//     restart. Implementations of Stream: local/boltstore (a change log in
//     the same bolt file, written in the same transaction as the item) and
//     aws/dynamostream (the DynamoDB Streams API).
//   - On AWS: each Consumer becomes a Lambda function fed by an event source
//     mapping on the table's stream (NEW_AND_OLD_IMAGES) with the consumer's
//     Filters as filter criteria (FilterPattern), partial batch responses,
//     bisect on error, retries and an on-failure queue. aws/lambdastream
//     adapts the same Consumer to events.DynamoDBEvent.
//
// A consumer written once against this package runs unchanged on both.
//
// # Writing a consumer
//
//	c := changes.Consumer{
//		Name:    "notify",
//		Filters: []changes.Filter{{PKPrefix: "MSGS#", SKPrefix: "MSG#", Events: []changes.Event{changes.Insert}}},
//		Handle: func(ctx context.Context, ch changes.Change) error {
//			var m storage.Message
//			if err := ch.New.Decode(&m); err != nil {
//				return err // retried, then dead-lettered
//			}
//			return notifier.OnMessage(ctx, m) // idempotent
//		},
//	}
//
// A consumer that writes to the table sees the changes of its own writes
// when its filters select them: it must not write again for a change it
// caused (select narrowly, or recognise its own items), or it loops.
//
// Locally: append the consumer to app.App.Consumers (the local stack's
// Runner runs them all). On AWS: a function main
// calls lambda.Start(lambdastream.Handler(c, log)) and the CDK stack wires
// it with streamConsumer(fn, name, c.Filters) (infra/triggers.go), which
// turns the same filters into the event source mapping's criteria.
package changes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/table"
)

// Event is what a write did to an item, named as DynamoDB Streams names it.
type Event string

const (
	Insert Event = "INSERT" // the item did not exist
	Modify Event = "MODIFY" // the item existed and its content changed
	Remove Event = "REMOVE" // the item was deleted (or expired: Change.Expired)
)

// Change is one write to one item.
type Change struct {
	// ID is unique per change and stable across redeliveries: an
	// idempotency key for handlers (DynamoDB's eventID; the log sequence
	// number on bolt).
	ID string `json:"id"`
	// Position is where the change sits in the stream, for Stream.Commit.
	// Opaque; only the stream that issued it understands it.
	Position string    `json:"position"`
	Event    Event     `json:"event"`
	Key      table.Key `json:"key"`
	// Old is the item before the write (nil on Insert); New after it (nil
	// on Remove). Decode them into the item's struct.
	Old Image `json:"old,omitempty"`
	New Image `json:"new,omitempty"`
	// Time is about when the write happened: DynamoDB rounds it down to the
	// second (DynamoDB Local to the minute). Not an ordering key.
	Time time.Time `json:"time"`
	// Expired marks a Remove done by the table's ttl, not by a request.
	Expired bool `json:"expired,omitempty"`
}

// Item returns the image that describes the item now: New, or Old for a
// Remove.
func (c Change) Item() Image {
	if c.Event == Remove {
		return c.Old
	}
	return c.New
}

// Image is a stored item as the JSON object the table port reads and writes:
// the attributes named by the item struct's `json` tags. The same struct
// that table.Table.Get fills decodes it.
type Image json.RawMessage

// ImageOf returns an item as a stream would carry it: for consumers' tests,
// which build the changes they feed a handler from the items themselves.
func ImageOf(item table.Item) (Image, error) {
	b, err := json.Marshal(item)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", item.TableKeys().Key(), err)
	}
	return b, nil
}

// Decode decodes the image into out, a pointer to the item's struct.
func (im Image) Decode(out any) error {
	if len(im) == 0 {
		return errors.New("decode change image: no image")
	}
	if err := json.Unmarshal(im, out); err != nil {
		return fmt.Errorf("decode change image: %w", err)
	}
	return nil
}

// Keys returns the table keys the image carries (zero when there is none).
func (im Image) Keys() table.Keys {
	var k table.Keys
	if len(im) > 0 {
		_ = json.Unmarshal(im, &k) // an image is always a JSON object with string keys
	}
	return k
}

// MarshalJSON and UnmarshalJSON keep an image as its raw JSON object.
func (im Image) MarshalJSON() ([]byte, error) {
	if len(im) == 0 {
		return []byte("null"), nil
	}
	return im, nil
}

func (im *Image) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*im = nil
		return nil
	}
	*im = append((*im)[0:0], b...)
	return nil
}

// Filter selects changes by key prefix and event; empty fields match
// everything. A consumer with several filters sees a change that matches
// any of them. On AWS the same filter becomes the event source mapping's
// filter criteria (FilterPattern), so both sides select alike.
type Filter struct {
	PKPrefix string  `json:"pkPrefix,omitempty"`
	SKPrefix string  `json:"skPrefix,omitempty"`
	Events   []Event `json:"events,omitempty"` // empty: every event
}

// Match reports whether the change passes the filter.
func (f Filter) Match(c Change) bool {
	if !strings.HasPrefix(c.Key.PK, f.PKPrefix) || !strings.HasPrefix(c.Key.SK, f.SKPrefix) {
		return false
	}
	if len(f.Events) == 0 {
		return true
	}
	for _, e := range f.Events {
		if e == c.Event {
			return true
		}
	}
	return false
}

// MatchAny reports whether c passes one of filters (all pass with none).
func MatchAny(filters []Filter, c Change) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if f.Match(c) {
			return true
		}
	}
	return false
}

// Pattern renders the filter as a Lambda event filtering pattern for a
// DynamoDB stream record, e.g.
// {"eventName":["INSERT"],"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"MSGS#"}]}}}}.
func (f Filter) Pattern() string {
	p := map[string]any{}
	keys := map[string]any{}
	if f.PKPrefix != "" {
		keys[table.AttrPK] = map[string]any{"S": []any{map[string]string{"prefix": f.PKPrefix}}}
	}
	if f.SKPrefix != "" {
		keys[table.AttrSK] = map[string]any{"S": []any{map[string]string{"prefix": f.SKPrefix}}}
	}
	if len(keys) > 0 {
		p["dynamodb"] = map[string]any{"Keys": keys}
	}
	if len(f.Events) > 0 {
		p["eventName"] = f.Events
	}
	b, _ := json.Marshal(p) // strings only: cannot fail
	return string(b)
}

// FilterPatterns renders filters for an event source mapping (at most 5
// filters per mapping on AWS).
func FilterPatterns(filters []Filter) []string {
	out := make([]string, len(filters))
	for i, f := range filters {
		out[i] = f.Pattern()
	}
	return out
}

// Stream is the port: the table's changes, read by named consumers from
// their committed position. Each consumer has its own position; a consumer
// that never committed starts at the oldest change the stream still holds.
// A consumer counts from its first Read on (a Runner reads at once for each
// consumer it runs): the embedded log keeps every change until all the
// consumers that have read passed it, and at most Retention (DynamoDB
// Streams keeps 24 hours whoever reads).
type Stream interface {
	// Read returns up to limit changes after the consumer's committed
	// position, in order (per item, the order of the writes). Until the
	// consumer commits, Read returns the same changes again.
	Read(ctx context.Context, consumer string, limit int) ([]Change, error)
	// Commit records that the consumer is done with every change up to and
	// including the one at position (a Change.Position from its Read).
	// Committing an earlier position than the committed one changes nothing.
	Commit(ctx context.Context, consumer, position string) error
}

// Notifier is implemented by streams that can say when new changes were
// written, so a Runner need not wait a whole poll interval.
type Notifier interface {
	// Changed returns a channel closed at the next write that leaves a change.
	Changed() <-chan struct{}
}

// Retention is how long a change stays readable, as on DynamoDB Streams.
const Retention = 24 * time.Hour

// ErrBadPosition is returned by Commit for a position the stream did not issue.
var ErrBadPosition = errors.New("invalid change position")
