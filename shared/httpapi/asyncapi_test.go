package httpapi_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/notify"
)

// TestAsyncAPIDocumentsEveryEvent: each event type notify pushes is a
// message of the document, and a pushed event of that type validates
// against the message's payload schema.
func TestAsyncAPIDocumentsEveryEvent(t *testing.T) {
	var doc struct {
		AsyncAPI   string `json:"asyncapi"`
		Components struct {
			Messages map[string]struct {
				Name    string `json:"name"`
				Payload struct {
					Ref string `json:"$ref"`
				} `json:"payload"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(httpapi.AsyncAPI(), &doc); err != nil || doc.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi.json: %v %q", err, doc.AsyncAPI)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.AsyncAPI()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem:///asyncapi.json", raw); err != nil {
		t.Fatal(err)
	}
	samples := map[notify.EventType]notify.Event{}
	for _, typ := range notify.EventTypes {
		ev := notify.Event{Type: typ, Org: "acme", UserID: "u-sam", ConversationID: "conv_1"}
		switch typ {
		case notify.NotificationRaised, notify.NotificationUpdated, notify.NotificationReminded, notify.NotificationDismissed:
			ev.NotificationID, ev.Count = "ntf_1_1", 3
		case notify.MessageReceived, notify.MessageStatus:
			ev.MessageID, ev.Status = "wamid.1", inbox.StatusRead
		}
		samples[typ] = ev
	}
	var documented []string
	for key, m := range doc.Components.Messages {
		documented = append(documented, m.Name)
		ev, ok := samples[notify.EventType(m.Name)]
		if !ok {
			t.Errorf("message %s (%s) is not an event notify pushes", key, m.Name)
			continue
		}
		sch, err := c.Compile("mem:///asyncapi.json" + m.Payload.Ref)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		b, _ := json.Marshal(ev)
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s: %s does not match its payload: %v", m.Name, b, err)
		}
	}
	for _, typ := range notify.EventTypes {
		if !slices.Contains(documented, string(typ)) {
			t.Errorf("event %s is not documented in asyncapi.json", typ)
		}
	}
}
