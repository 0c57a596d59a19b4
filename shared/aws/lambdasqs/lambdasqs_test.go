package lambdasqs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wacrm/wacrm/shared/queue"
)

const eventsDir = "../../../events/sqs"

func loadEvent(t *testing.T, name string) (events.SQSEvent, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var event events.SQSEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&event); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return event, raw
}

// TestSampleEventsRoundTrip checks every sample SQS event decodes into
// events.SQSEvent without losing or inventing a field.
func TestSampleEventsRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in %s: %v", eventsDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			event, raw := loadEvent(t, filepath.Base(f))
			again, err := json.Marshal(event)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the event:\n got %s\nwant %s", again, raw)
			}
		})
	}
}

func TestHandlerConvertsRecordsAndReportsFailures(t *testing.T) {
	event, _ := loadEvent(t, "inbound-batch.json")
	var seen []queue.Message
	h := Handler(func(ctx context.Context, batch []queue.Message) []string {
		seen = batch
		// The retried record fails again; an unknown ID and a duplicate
		// must not reach Lambda, which would fail the whole batch.
		return []string{"c0ffee00-1234-4abc-8def-0123456789ab", "not-in-batch", "c0ffee00-1234-4abc-8def-0123456789ab"}
	})
	resp, err := h(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(resp)
	if want := `{"batchItemFailures":[{"itemIdentifier":"c0ffee00-1234-4abc-8def-0123456789ab"}]}`; string(got) != want {
		t.Errorf("response = %s, want %s", got, want)
	}

	want := []struct {
		id           string
		receiveCount int
		attrs        map[string]string
	}{
		{"3f1c2b7e-6a7d-4f4e-9d3a-1b2c3d4e5f60", 1, map[string]string{"kind": "webhook"}},
		{"8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d", 1, map[string]string{"kind": "webhook", queue.ClaimCheckAttribute: "claimcheck/2026/11/23/9f2c4e1ab07d4e5c8a3b6d0f1e2a3b4c"}},
		// Number attributes keep their string form; binary ones are dropped.
		{"c0ffee00-1234-4abc-8def-0123456789ab", 3, map[string]string{"kind": "webhook", "attempt": "3"}},
	}
	if len(seen) != len(want) {
		t.Fatalf("handler saw %d messages, want %d", len(seen), len(want))
	}
	for i, w := range want {
		m := seen[i]
		if m.ID != w.id || m.ReceiveCount != w.receiveCount || !reflect.DeepEqual(m.Attributes, w.attrs) {
			t.Errorf("message %d = {ID:%s ReceiveCount:%d Attributes:%v}, want {%s %d %v}", i, m.ID, m.ReceiveCount, m.Attributes, w.id, w.receiveCount, w.attrs)
		}
		if string(m.Body) != event.Records[i].Body {
			t.Errorf("message %d body = %q, want %q", i, m.Body, event.Records[i].Body)
		}
	}
}

func TestHandlerPanicFailsTheBatch(t *testing.T) {
	event, _ := loadEvent(t, "inbound-batch.json")
	h := Handler(func(ctx context.Context, batch []queue.Message) []string { panic("bug") })
	resp, err := h(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	want := []string{"3f1c2b7e-6a7d-4f4e-9d3a-1b2c3d4e5f60", "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d", "c0ffee00-1234-4abc-8def-0123456789ab"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("failures = %v, want %v", got, want)
	}
}

func TestHandlerSuccessAndEmptyBatch(t *testing.T) {
	tests := []struct {
		name  string
		event events.SQSEvent
	}{
		{"empty", events.SQSEvent{}},
		{"all succeed", events.SQSEvent{Records: []events.SQSMessage{{MessageId: "a", Body: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler(func(ctx context.Context, batch []queue.Message) []string { return nil })
			resp, err := h(context.Background(), tt.event)
			if err != nil {
				t.Fatal(err)
			}
			// An empty list, not null: Lambda reads it as "all succeeded".
			got, _ := json.Marshal(resp)
			if want := `{"batchItemFailures":[]}`; string(got) != want {
				t.Errorf("response = %s, want %s", got, want)
			}
		})
	}
}

func TestFromRecordDefaultsReceiveCount(t *testing.T) {
	tests := []struct {
		attr string
		want int
	}{{"", 1}, {"garbage", 1}, {"0", 1}, {"1", 1}, {"7", 7}}
	for _, tt := range tests {
		r := events.SQSMessage{MessageId: "m", Attributes: map[string]string{"ApproximateReceiveCount": tt.attr}}
		if got := FromRecord(r).ReceiveCount; got != tt.want {
			t.Errorf("ApproximateReceiveCount %q: ReceiveCount = %d, want %d", tt.attr, got, tt.want)
		}
	}
}
