package lambdastream

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/table"
)

func loadEvent(t *testing.T) (events.DynamoDBEvent, []byte) {
	t.Helper()
	raw, err := os.ReadFile("../../../events/dynamodb/stream_changes.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
	return ev, raw
}

// The sample event survives a round trip through aws-lambda-go's types.
func TestSampleRoundTrip(t *testing.T) {
	ev, raw := loadEvent(t)
	again, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	json.Unmarshal(raw, &want)
	json.Unmarshal(again, &got)
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip differs:\n got %s\nwant %s", again, raw)
	}
}

type message struct {
	table.Keys
	ID        string         `json:"id"`
	Org       string         `json:"org"`
	Direction string         `json:"direction"`
	Text      string         `json:"text"`
	Media     *string        `json:"media"`
	Tags      []any          `json:"tags"`
	Meta      map[string]any `json:"meta"`
}

func TestChange(t *testing.T) {
	ev, _ := loadEvent(t)
	var got []changes.Change
	for _, r := range ev.Records {
		c, err := Change(r)
		if err != nil {
			t.Fatalf("record %s: %v", r.EventID, err)
		}
		got = append(got, c)
	}
	ins := got[0]
	if ins.Event != changes.Insert || ins.Key != (table.Key{PK: "MSGS#acme#c1", SK: "MSG#2025-11-28T08:00:00.000000000Z#m1"}) ||
		ins.ID != "7de3041dd709b024af6f29e4fa13d34c" || ins.Position != "111100000000000000000001" ||
		!ins.Time.Equal(time.Unix(1764316800, 0)) || ins.Old != nil || ins.Expired {
		t.Errorf("insert: %+v", ins)
	}
	var m message
	if err := ins.New.Decode(&m); err != nil {
		t.Fatal(err)
	}
	want := message{
		Keys: table.Keys{PK: "MSGS#acme#c1", SK: "MSG#2025-11-28T08:00:00.000000000Z#m1", Ver: 1},
		ID:   "m1", Org: "acme", Direction: "inbound", Text: "Hola 👋",
		Tags: []any{"new", 2.0, true}, Meta: map[string]any{"wamid": "wamid.HBgL", "retries": 0.0},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("decoded image:\n got %+v\nwant %+v", m, want)
	}
	if mod := got[1]; mod.Event != changes.Modify || mod.Old.Keys().Ver != 3 || mod.New.Keys().Ver != 4 {
		t.Errorf("modify: %+v", mod)
	}
	if rm := got[2]; rm.Event != changes.Remove || !rm.Expired || rm.New != nil || rm.Item().Keys().TTL != 1764316000 {
		t.Errorf("ttl remove: %+v", rm)
	}
}

func TestHandler(t *testing.T) {
	ev, _ := loadEvent(t)
	var seen []string
	failOn := ""
	c := changes.Consumer{
		Name:    "test",
		Filters: []changes.Filter{{PKPrefix: "MSGS#"}, {PKPrefix: "CONV#", Events: []changes.Event{changes.Modify}}},
		Handle: func(_ context.Context, ch changes.Change) error {
			seen = append(seen, ch.ID)
			if ch.ID == failOn {
				return errors.New("boom")
			}
			return nil
		},
	}
	h := Handler(c, nil)

	res, err := h(t.Context(), ev)
	if err != nil || len(res.BatchItemFailures) != 0 {
		t.Fatalf("all good: %+v, %v", res, err)
	}
	if want := []string{"7de3041dd709b024af6f29e4fa13d34c", "8fa2b2d1e2f34a4b9c3e61c2f04b9a11"}; !slices.Equal(seen, want) {
		t.Errorf("handled %v, want the two records the filters select (not the WAMID removal)", seen)
	}

	// The first failure is reported and nothing after it is handled:
	// Lambda retries from it.
	seen, failOn = nil, "7de3041dd709b024af6f29e4fa13d34c"
	res, err = h(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != "111100000000000000000001" {
		t.Errorf("failures: %+v, want the first record's sequence number", res)
	}
	if len(seen) != 1 {
		t.Errorf("handled after the failure: %v", seen)
	}

	// A record that cannot be converted is a failure, not a silent skip.
	bad := ev
	bad.Records = slices.Clone(ev.Records)
	bad.Records[1].EventName = "TRUNCATE"
	seen, failOn = nil, ""
	res, _ = h(t.Context(), bad)
	if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != "111100000000000000000002" {
		t.Errorf("unconvertible record: %+v", res)
	}

	if _, err := Handler(changes.Consumer{Name: "no handle"}, nil)(t.Context(), ev); err == nil {
		t.Error("a consumer without Handle: no error")
	}
}
