package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wacrm/wacrm/shared/queue"
)

func TestName(t *testing.T) {
	tests := []struct {
		kind  string
		parts []string
		want  string // "" = hashed
	}{
		{"remind", []string{"acme", "n123"}, "remind-acme-n123"},
		{"window", []string{"acme", "c_1.x"}, "window-acme-c_1.x"},
		{"remind", []string{"acme", "has space"}, ""},
		{"remind", []string{"acme", "ñ"}, ""},
		{"window", []string{strings.Repeat("o", 40), strings.Repeat("c", 40)}, ""},
	}
	for _, tt := range tests {
		got := Name(tt.kind, tt.parts...)
		if err := CheckName(got); err != nil {
			t.Errorf("Name(%q, %q) = %q: invalid: %v", tt.kind, tt.parts, got, err)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.kind, tt.parts, got, tt.want)
		}
		if tt.want == "" && (!strings.HasPrefix(got, tt.kind+"-") || len(got) != len(tt.kind)+41) {
			t.Errorf("Name(%q, %q) = %q, want the kind and a hash", tt.kind, tt.parts, got)
		}
		if again := Name(tt.kind, tt.parts...); again != got {
			t.Errorf("Name is not deterministic: %q then %q", got, again)
		}
	}
	// Different parts never share a name, even when joined alike.
	if Name("k", "a-b", "c") == Name("k", "a", "b c") || Name("k", "a b", "c") == Name("k", "a", "b c") {
		t.Error("distinct parts gave one name")
	}
}

func TestCheck(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 15, 30, 999, time.FixedZone("x", 3600))
	body, err := Schedule{Name: "n", At: at, Kind: "k", Data: json.RawMessage(`{"a":1}`)}.Check()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"n","kind":"k","at":"2026-11-28T08:15:30Z","data":{"a":1}}`; string(body) != want {
		t.Errorf("firing: got %s, want %s", body, want)
	}
}

func TestDispatcher(t *testing.T) {
	var got []string
	d := &Dispatcher{}
	d.Register("ok", func(_ context.Context, f Firing) error { got = append(got, f.Name); return nil })
	d.Register("fails", func(context.Context, Firing) error { return errors.New("not now") })
	body := func(name, kind string) []byte {
		b, _ := Schedule{Name: name, At: time.Now(), Kind: kind}.Check()
		return b
	}
	failed := d.HandleBatch(t.Context(), []queue.Message{
		{ID: "1", Body: body("a", "ok")},
		{ID: "2", Body: body("b", "fails")},
		{ID: "3", Body: body("c", "unknown")},
		{ID: "4", Body: []byte(`not json`)},
		{ID: "5", Body: []byte(`{"name":"x"}`)},
		{ID: "6", Body: body("d", "ok")},
	})
	if !slices.Equal(failed, []string{"2", "3", "4", "5"}) || !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("failed %v handled %v", failed, got)
	}
	if err := d.Handle(t.Context(), body("c", "unknown")); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a kind twice did not panic")
		}
	}()
	d.Register("ok", func(context.Context, Firing) error { return nil })
}

// The sample schedule queue event (what EventBridge Scheduler delivers
// through SQS) round-trips and decodes as a Firing.
func TestSampleEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/sqs/schedule-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(ev)
	var want, got any
	json.Unmarshal(raw, &want)
	json.Unmarshal(again, &got)
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip:\n got %s\nwant %s", again, raw)
	}
	var f Firing
	if err := json.Unmarshal([]byte(ev.Records[0].Body), &f); err != nil {
		t.Fatal(err)
	}
	if f.Name != "remind-acme-n123" || f.Kind != "notify.remind" || !f.At.Equal(time.Date(2026, 11, 28, 9, 15, 0, 0, time.UTC)) ||
		string(f.Data) != `{"notificationId":"n123","org":"acme"}` {
		t.Errorf("firing: %+v", f)
	}
	body, err := Schedule{Name: f.Name, At: f.At, Kind: f.Kind, Data: f.Data}.Check()
	if err != nil || string(body) != ev.Records[0].Body {
		t.Errorf("the firing Set would send: %s (%v), want the sample's body %s", body, err, ev.Records[0].Body)
	}
}
