package whatsapp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const eventsDir = "../../events/whatsapp"

// outboundWamid is the wamid of "our" message that the sample statuses,
// replies and reactions refer to.
const outboundWamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJFODlGMjQzQUVFQjY0MjA4QkMA"

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseEvent(t testing.TB, name string) *Notification {
	t.Helper()
	n, err := Parse(readEvent(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return n
}

// firstMessage and firstStatus return the first message/status of the first change that has one.
func firstMessage(n *Notification) (*Value, *Message) {
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			v := &n.Entry[i].Changes[j].Value
			if len(v.Messages) > 0 {
				return v, &v.Messages[0]
			}
		}
	}
	return nil, nil
}

func firstStatus(n *Notification) *Status {
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			if v := &n.Entry[i].Changes[j].Value; len(v.Statuses) > 0 {
				return &v.Statuses[0]
			}
		}
	}
	return nil
}

func count(n *Notification) (messages, statuses int) {
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			messages += len(c.Value.Messages)
			statuses += len(c.Value.Statuses)
		}
	}
	return messages, statuses
}

type eventCase struct {
	file                   string
	messages, statuses     int
	msgType, preview       string // first message
	sender, name           string // first message's SenderKey and its contact's profile name
	status, recipient      string // first status
	pricingModel, category string
	check                  func(t *testing.T, n *Notification)
}

var eventCases = []eventCase{
	{file: "message_text.json", messages: 1, msgType: "text", preview: "Hola, ¿tienen disponibilidad para el jueves?", sender: "16505551234", name: "Ana García"},
	{file: "message_text_reply.json", messages: 1, msgType: "text", preview: "Yes, that one", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if m.Context == nil || m.Context.ID != outboundWamid || m.Context.From != "15550783881" {
				t.Errorf("context = %+v, want reply to %s", m.Context, outboundWamid)
			}
		}},
	{file: "message_image.json", messages: 1, msgType: "image", preview: "Foto del recibo", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			md := m.MediaInfo()
			if md == nil || md.ID != "1003383421387256" || md.MimeType != "image/jpeg" || md.SHA256 == "" || !strings.HasPrefix(md.URL, "https://lookaside.fbsbx.com/") {
				t.Errorf("media = %+v", md)
			}
		}},
	{file: "message_video.json", messages: 1, msgType: "video", preview: "🎥 Video", sender: "16505551234", name: "Ana García",
		check: wantMedia("1184477336618220", "video/mp4")},
	{file: "message_audio_voice.json", messages: 1, msgType: "audio", preview: "🎤 Voice message", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if md := m.MediaInfo(); md == nil || !md.Voice || md.MimeType != "audio/ogg; codecs=opus" {
				t.Errorf("media = %+v, want a voice note", md)
			}
		}},
	{file: "message_document.json", messages: 1, msgType: "document", preview: "Contrato firmado", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if md := m.MediaInfo(); md == nil || md.Filename != "contrato-2026.pdf" || md.MimeType != "application/pdf" {
				t.Errorf("media = %+v", md)
			}
		}},
	{file: "message_sticker.json", messages: 1, msgType: "sticker", preview: "🏷️ Sticker", sender: "16505551234", name: "Ana García",
		check: wantMedia("1029384756102938", "image/webp")},
	{file: "message_location.json", messages: 1, msgType: "location", preview: "📍 Location: Meta Headquarters", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if l := m.Location; l == nil || l.Latitude != 37.483307 || l.Longitude != -122.148981 || l.Address == "" {
				t.Errorf("location = %+v", l)
			}
			if m.MediaInfo() != nil {
				t.Error("MediaInfo of a location is not nil")
			}
		}},
	{file: "message_contacts.json", messages: 1, msgType: "contacts", preview: "👤 Contact: Barbara J. Johnson", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if len(m.Contacts) != 1 || len(m.Contacts[0].Phones) != 2 || m.Contacts[0].Phones[1].WaID != "14155551234" || m.Contacts[0].Org.Company != "Example, Inc." {
				t.Errorf("contacts = %+v", m.Contacts)
			}
		}},
	{file: "message_interactive_button_reply.json", messages: 1, msgType: "interactive", preview: "Sí, confirmo", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if i := m.Interactive; i.Type != "button_reply" || i.ButtonReply.ID != "confirm-yes" {
				t.Errorf("interactive = %+v", i)
			}
		}},
	{file: "message_interactive_list_reply.json", messages: 1, msgType: "interactive", preview: "Priority Mail Express", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if r := m.Interactive.ListReply; r.ID != "priority_express" || r.Description != "Next Day to 2 Days" {
				t.Errorf("list reply = %+v", r)
			}
		}},
	{file: "message_interactive_nfm_reply.json", messages: 1, msgType: "interactive", preview: "📝 Sent", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			var resp map[string]string
			if err := json.Unmarshal([]byte(m.Interactive.NFMReply.ResponseJSON), &resp); err != nil || resp["appointment_date"] != "2026-06-04" {
				t.Errorf("nfm response_json = %q (%v)", m.Interactive.NFMReply.ResponseJSON, err)
			}
		}},
	{file: "message_button.json", messages: 1, msgType: "button", preview: "Stop promotions", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			if _, m := firstMessage(n); m.Button.Payload != "STOP_PROMOTIONS" {
				t.Errorf("button = %+v", m.Button)
			}
		}},
	{file: "message_reaction.json", messages: 1, msgType: "reaction", preview: "👍 reacted to a message", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			if _, m := firstMessage(n); m.Reaction.MessageID != outboundWamid {
				t.Errorf("reaction = %+v", m.Reaction)
			}
		}},
	{file: "message_reaction_removed.json", messages: 1, msgType: "reaction", preview: "Removed a reaction", sender: "16505551234", name: "Ana García"},
	{file: "message_order.json", messages: 1, msgType: "order", preview: "🛒 Order: 3 items · Love these!", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			want := []ProductItem{{"di9ozbzfi4", 2, 7.99, "USD"}, {"nqryix03ez", 1, 19.5, "USD"}}
			if !reflect.DeepEqual(m.Order.ProductItems, want) {
				t.Errorf("items = %+v, want %+v", m.Order.ProductItems, want)
			}
		}},
	{file: "message_system_changed_number.json", messages: 1, msgType: "system", preview: "User Ana García changed from 16505551234 to 12195555358", sender: "16505551234",
		check: func(t *testing.T, n *Notification) {
			v, m := firstMessage(n)
			if m.System.Type != SystemUserChangedNumber || m.System.WaID != "12195555358" {
				t.Errorf("system = %+v", m.System)
			}
			if len(v.Contacts) != 0 {
				t.Errorf("system message has contacts %+v", v.Contacts)
			}
		}},
	{file: "message_system_user_id_changed.json", messages: 1, msgType: "system", preview: "User Ana García changed their business-scoped user ID", sender: "US.13491208655302741918",
		check: func(t *testing.T, n *Notification) {
			if _, m := firstMessage(n); m.System.Type != SystemUserChangedUserID || m.System.UserID != "US.88420934000012345678" {
				t.Errorf("system = %+v", m.System)
			}
		}},
	{file: "message_unsupported.json", messages: 1, msgType: "unsupported", preview: "Unsupported message", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			if m.Unsupported == nil || m.Unsupported.Type != "poll_creation" || len(m.Errors) != 1 || m.Errors[0].Code != ErrCodeUnsupportedMessageType || m.Errors[0].Details() == "" {
				t.Errorf("unsupported = %+v errors = %+v", m.Unsupported, m.Errors)
			}
		}},
	{file: "message_unknown_future_type.json", messages: 1, msgType: "poll_vote", preview: "Unsupported message", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			_, m := firstMessage(n)
			var raw struct {
				PollVote struct {
					SelectedOptions []struct{ Name string } `json:"selected_options"`
				} `json:"poll_vote"`
			}
			if err := json.Unmarshal(m.Raw, &raw); err != nil || len(raw.PollVote.SelectedOptions) != 1 || raw.PollVote.SelectedOptions[0].Name != "Thursday 10:00" {
				t.Errorf("Raw does not keep the unknown type's content: %s (%v)", m.Raw, err)
			}
		}},
	{file: "message_referral_ad.json", messages: 1, msgType: "text", preview: "Can I get more info about this?", sender: "16505551234", name: "Ana García",
		check: func(t *testing.T, n *Notification) {
			if _, m := firstMessage(n); m.Referral == nil || m.Referral.SourceType != "ad" || m.Referral.WelcomeMessage.Text == "" {
				t.Errorf("referral = %+v", m.Referral)
			}
		}},
	{file: "message_username_only.json", messages: 1, msgType: "text", preview: "oi! vi o anúncio de vocês", sender: "BR.61922874001355608821", name: "Kai",
		check: func(t *testing.T, n *Notification) {
			v, m := firstMessage(n)
			if m.From != "" || v.Contacts[0].WaID != "" || v.Contacts[0].Profile.Username != "@kai.builds" || v.Contacts[0].Key() != "BR.61922874001355608821" {
				t.Errorf("message %+v contact %+v: want a sender with no phone number", m, v.Contacts[0])
			}
		}},
	{file: "message_emoji_escaped.json", messages: 1, msgType: "text", preview: "hola 👋 ¿qué tal? café ☕ 日本語 👨‍👩‍👧 https://example.com/a/b", sender: "16505551234", name: "Ana García"},
	{file: "status_sent_cbp.json", statuses: 1, status: "sent", recipient: "16505551234", pricingModel: "CBP", category: "service",
		check: func(t *testing.T, n *Notification) {
			s := firstStatus(n)
			if c := s.Conversation; c == nil || c.Origin.Type != "service" || c.ExpirationTimestamp != "1779616400" || !s.Pricing.Billable {
				t.Errorf("conversation = %+v pricing = %+v", c, s.Pricing)
			}
		}},
	{file: "status_delivered_cbp.json", statuses: 1, status: "delivered", recipient: "16505551234", pricingModel: "CBP", category: "service"},
	{file: "status_sent_pmp.json", statuses: 1, status: "sent", recipient: "16505551234", pricingModel: "PMP", category: "service",
		check: func(t *testing.T, n *Notification) {
			s := firstStatus(n)
			if s.Conversation != nil || s.Pricing.Type != "free_customer_service" || s.Pricing.Billable || s.RecipientUserID != "US.13491208655302741918" {
				t.Errorf("status = %+v pricing = %+v", s, s.Pricing)
			}
		}},
	{file: "status_delivered_pmp_template.json", statuses: 1, status: "delivered", recipient: "16505551234", pricingModel: "PMP", category: "utility",
		check: func(t *testing.T, n *Notification) {
			if s := firstStatus(n); s.BizOpaqueCallbackData != "order-4711" || s.Pricing.Type != "regular" || !s.Pricing.Billable {
				t.Errorf("status = %+v pricing = %+v", s, s.Pricing)
			}
		}},
	{file: "status_read.json", statuses: 1, status: "read", recipient: "16505551234"},
	{file: "status_failed.json", statuses: 1, status: "failed", recipient: "16505551234",
		check: func(t *testing.T, n *Notification) {
			s := firstStatus(n)
			if len(s.Errors) != 1 || s.Errors[0].Code != ErrCodeWindowClosed || s.Errors[0].Title != "Re-engagement message" || !strings.Contains(s.Errors[0].Details(), "24 hours") {
				t.Errorf("errors = %+v", s.Errors)
			}
		}},
	{file: "status_sent_to_bsuid.json", statuses: 1, status: "sent", recipient: "BR.61922874001355608821", pricingModel: "PMP", category: "service",
		check: func(t *testing.T, n *Notification) {
			if s := firstStatus(n); s.RecipientID != "" {
				t.Errorf("recipient_id = %q, want none", s.RecipientID)
			}
		}},
	{file: "errors_value.json",
		check: func(t *testing.T, n *Notification) {
			if errs := n.Entry[0].Changes[0].Value.Errors; len(errs) != 1 || errs[0].Code != ErrCodeSomethingWentWrong {
				t.Errorf("value errors = %+v", errs)
			}
		}},
	{file: "multi_entry_multi_change.json", messages: 3, statuses: 2, msgType: "text", preview: "first", sender: "16505551234", name: "Ana García",
		status: "delivered", recipient: "16505551234",
		check: func(t *testing.T, n *Notification) {
			if len(n.Entry) != 2 || len(n.Entry[0].Changes) != 2 || len(n.Entry[1].Changes) != 2 {
				t.Fatalf("shape: %d entries", len(n.Entry))
			}
			second := n.Entry[1]
			if second.Changes[0].Value.Metadata.PhoneNumberID != "301234567890123" || second.Changes[0].Value.Messages[0].SenderKey() != "34600111222" {
				t.Errorf("second entry = %+v", second.Changes[0].Value)
			}
			if c := second.Changes[1]; c.Field != "message_template_status_update" || len(c.Value.Messages) != 0 {
				t.Errorf("template change = %+v", c)
			}
		}},
}

func wantMedia(id, mime string) func(t *testing.T, n *Notification) {
	return func(t *testing.T, n *Notification) {
		t.Helper()
		_, m := firstMessage(n)
		if md := m.MediaInfo(); md == nil || md.ID != id || md.MimeType != mime {
			t.Errorf("media = %+v, want id %s %s", md, id, mime)
		}
	}
}

func TestEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in %s (%v)", eventsDir, err)
	}
	covered := map[string]bool{}
	for _, tc := range eventCases {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in eventCases: add one", filepath.Base(f))
		}
	}
	wantTime := time.Unix(1779530000, 0).UTC()
	for _, tc := range eventCases {
		t.Run(tc.file, func(t *testing.T) {
			n := parseEvent(t, tc.file)
			if msgs, sts := count(n); msgs != tc.messages || sts != tc.statuses {
				t.Fatalf("messages, statuses = %d, %d; want %d, %d", msgs, sts, tc.messages, tc.statuses)
			}
			for _, e := range n.Entry {
				for _, c := range e.Changes {
					for _, m := range c.Value.Messages {
						if m.PartiallyDecoded || len(m.Raw) == 0 || m.ID == "" {
							t.Errorf("message %s: partially decoded %v, raw %d bytes", m.ID, m.PartiallyDecoded, len(m.Raw))
						}
						if got, err := m.Time(); err != nil || !got.Equal(wantTime) {
							t.Errorf("message Time() = %v, %v; want %v", got, err, wantTime)
						}
					}
					for _, s := range c.Value.Statuses {
						if s.PartiallyDecoded || len(s.Raw) == 0 {
							t.Errorf("status %s partially decoded", s.ID)
						}
						if got, err := s.Time(); err != nil || !got.Equal(wantTime) {
							t.Errorf("status Time() = %v, %v; want %v", got, err, wantTime)
						}
					}
				}
			}
			if tc.messages > 0 {
				v, m := firstMessage(n)
				if m.Type != tc.msgType || m.Preview() != tc.preview || m.SenderKey() != tc.sender {
					t.Errorf("type, preview, sender = %q, %q, %q; want %q, %q, %q", m.Type, m.Preview(), m.SenderKey(), tc.msgType, tc.preview, tc.sender)
				}
				var name string
				if c := v.ContactFor(m); c != nil {
					name = c.Profile.Name
				}
				if name != tc.name {
					t.Errorf("sender's profile name = %q, want %q", name, tc.name)
				}
				if v.Metadata.PhoneNumberID != "106540352242922" {
					t.Errorf("phone_number_id = %q", v.Metadata.PhoneNumberID)
				}
			}
			if tc.statuses > 0 {
				s := firstStatus(n)
				if s.Status != tc.status || s.RecipientKey() != tc.recipient || s.ID == "" {
					t.Errorf("status, recipient = %q, %q; want %q, %q", s.Status, s.RecipientKey(), tc.status, tc.recipient)
				}
				var model, category string
				if s.Pricing != nil {
					model, category = s.Pricing.PricingModel, s.Pricing.Category
				}
				if model != tc.pricingModel || category != tc.category {
					t.Errorf("pricing = %q/%q, want %q/%q", model, category, tc.pricingModel, tc.category)
				}
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}

// TestEventsRoundTrip: parse -> marshal -> parse gives equal structs (Raw
// aside, which holds the bytes as received).
func TestEventsRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, err := Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			again := roundTrip(t, first)
			clearRaw(first)
			if !reflect.DeepEqual(first, again) {
				a, _ := json.Marshal(first)
				b, _ := json.Marshal(again)
				t.Errorf("round trip differs:\n%s\n%s", a, b)
			}
		})
	}
}

func roundTrip(t testing.TB, n *Notification) *Notification {
	t.Helper()
	out, err := json.Marshal(n)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("parse marshalled: %v\n%s", err, out)
	}
	clearRaw(again)
	return again
}

func clearRaw(n *Notification) {
	n.Problems = nil
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			v := &n.Entry[i].Changes[j].Value
			for k := range v.Messages {
				v.Messages[k].Raw, v.Messages[k].PartiallyDecoded, v.Messages[k].DecodeError = nil, false, ""
			}
			for k := range v.Statuses {
				v.Statuses[k].Raw, v.Statuses[k].PartiallyDecoded, v.Statuses[k].DecodeError = nil, false, ""
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error // nil: any error
	}{
		{"empty", "", ErrNotJSONObject},
		{"whitespace", " \n\t", ErrNotJSONObject},
		{"array", `[{"object":"whatsapp_business_account"}]`, ErrNotJSONObject},
		{"string", `"whatsapp_business_account"`, ErrNotJSONObject},
		{"null", `null`, ErrNotJSONObject},
		{"truncated", `{"object":"whatsapp_business_account","entry":[`, nil},
		{"wrong object", `{"object":"page","entry":[]}`, ErrWrongObject},
		{"no object", `{"entry":[]}`, ErrWrongObject},
		{"trailing garbage", `{"object":"whatsapp_business_account"} x`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.body))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.body, n)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A body with parts that cannot be read is read around them: every part
// that can be read is returned, and each one that cannot is a Problem
// naming where it is and why.
func TestParseReadsInPart(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		wantMessages []string // wamids read
		wantStatuses []string
		wantProblems []string // paths
	}{
		{"entry not an array", `{"object":"whatsapp_business_account","entry":{}}`, nil, nil, []string{"entry"}},
		{"message not an object", `{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[42,{"from":"1","id":"wamid.OK","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
			[]string{"wamid.OK"}, nil, []string{"entry[0].changes[0].value.messages[0]"}},
		{"one bad entry beside a good one", `{"object":"whatsapp_business_account","entry":["x",{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"9"},"messages":[{"from":"1","id":"wamid.OK","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
			[]string{"wamid.OK"}, nil, []string{"entry[0]"}},
		{"changes not an array", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":"x"},{"id":"2","changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.S","status":"read","timestamp":"1","recipient_id":"1"}]}}]}]}`,
			nil, []string{"wamid.S"}, []string{"entry[0].changes"}},
		{"value not an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":[1]},{"field":"messages","value":{"messages":[{"from":"1","id":"wamid.OK","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
			[]string{"wamid.OK"}, nil, []string{"entry[0].changes[0].value"}},
		{"contact not an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[null,7],"messages":[{"from":"1","id":"wamid.OK","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}`,
			[]string{"wamid.OK"}, nil, []string{"entry[0].changes[0].value.contacts[1]"}},
		{"a field of the wrong shape", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"1","id":"wamid.B","timestamp":"1","type":"text","text":"not an object"}]}}]}]}`,
			[]string{"wamid.B"}, nil, []string{"entry[0].changes[0].value.messages[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var msgs, sts, problems []string
			for _, e := range n.Entry {
				for _, c := range e.Changes {
					for _, m := range c.Value.Messages {
						msgs = append(msgs, m.ID)
					}
					for _, s := range c.Value.Statuses {
						sts = append(sts, s.ID)
					}
				}
			}
			for _, p := range n.Problems {
				if p.Reason == "" {
					t.Errorf("problem at %s without a reason", p.Path)
				}
				problems = append(problems, p.Path)
			}
			if !reflect.DeepEqual(msgs, tc.wantMessages) || !reflect.DeepEqual(sts, tc.wantStatuses) || !reflect.DeepEqual(problems, tc.wantProblems) {
				t.Errorf("messages %v, statuses %v, problems %v; want %v, %v, %v", msgs, sts, n.Problems, tc.wantMessages, tc.wantStatuses, tc.wantProblems)
			}
		})
	}
}

// Meta sends some numbers as strings and some strings as numbers, and
// has changed which over time: each decodes as its field's type, with no
// problem, wherever it sits.
func TestParseFlexibleScalars(t *testing.T) {
	body := `{"object":"whatsapp_business_account","entry":[{"id":102290129340398,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":15550001111,"phone_number_id":106540352242922},
		"contacts":[{"wa_id":16505551234,"profile":{"name":"Ana"}}],
		"messages":[{"from":16505551234,"id":"wamid.A","timestamp":1779530000,"type":"text","text":{"body":"hi"},
			"errors":[{"code":"131051","title":"Unsupported message type"}]}],
		"statuses":[{"id":"wamid.S","status":"sent","timestamp":1779530000,"recipient_id":16505551234,
			"conversation":{"id":"c","expiration_timestamp":"1779616400","origin":{"type":"service"}},
			"pricing":{"billable":"true","pricing_model":"PMP","category":"service","type":"free_customer_service"},
			"errors":[{"code":"131026","title":"x"}]}],
		"errors":[{"code":"131000","title":"Something went wrong","error_data":{"details":"d"}}]
	}}]}]}`
	n, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Problems) != 0 {
		t.Errorf("problems: %v", n.Problems)
	}
	e := n.Entry[0]
	v := e.Changes[0].Value
	if e.ID != "102290129340398" || v.Metadata.PhoneNumberID != "106540352242922" || v.Metadata.DisplayPhoneNumber != "15550001111" {
		t.Errorf("entry id %q, metadata %+v", e.ID, v.Metadata)
	}
	if c := v.Contacts[0]; c.WaID != "16505551234" {
		t.Errorf("contact wa_id %q", c.WaID)
	}
	m := v.Messages[0]
	if m.PartiallyDecoded || m.From != "16505551234" || m.Timestamp != "1779530000" || m.Text == nil || m.Text.Body != "hi" || m.Errors[0].Code != 131051 {
		t.Errorf("message %+v", m)
	}
	s := v.Statuses[0]
	if s.PartiallyDecoded || s.RecipientID != "16505551234" || s.Timestamp != "1779530000" || s.Pricing == nil || !s.Pricing.Billable || s.Errors[0].Code != 131026 {
		t.Errorf("status %+v pricing %+v", s, s.Pricing)
	}
	if len(v.Errors) != 1 || v.Errors[0].Code != 131000 || v.Errors[0].Details() != "d" {
		t.Errorf("webhook errors %+v", v.Errors)
	}
}

func TestParseTolerates(t *testing.T) {
	body := `{"object":"whatsapp_business_account","brand_new_top_level":{"x":1},"entry":[{"id":"1","changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"phone_number_id":"9","new_meta_field":true},
		"messages":[
			{"from":"1","id":"wamid.A","timestamp":1779530000,"type":"location","location":{"latitude":"37.5","longitude":"-122.25","name":"HQ"}},
			{"from":"1","id":"wamid.B","timestamp":"1779530000","type":"text","text":"not an object","extra":[1,2]},
			{"from":"1","id":"wamid.C","timestamp":"1779530000","type":"order","order":{"catalog_id":"c","product_items":[{"product_retailer_id":"p","quantity":"2","item_price":"7.99","currency":"EUR"}]}},
			{"from":"1","id":"wamid.D","timestamp":"1779530000","type":"system","system":{"body":"changed","new_wa_id":12195555358,"type":"customer_changed_number"}}
		],
		"statuses":[{"id":"wamid.S","status":"warning","timestamp":"1779530000","recipient_id":"1","conversation":{"id":"c","expiration_timestamp":1779616400,"origin":{"type":"service"}}}]
	}}]}]}`
	n, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	v := n.Entry[0].Changes[0].Value
	loc := v.Messages[0]
	if loc.Timestamp != "1779530000" || loc.Location.Latitude != 37.5 || loc.Location.Longitude != -122.25 || loc.PartiallyDecoded {
		t.Errorf("numeric timestamp / string coordinates: %+v %+v", loc, loc.Location)
	}
	bad := v.Messages[1]
	if !bad.PartiallyDecoded || bad.ID != "wamid.B" || bad.Type != "text" || bad.SenderKey() != "1" || !strings.Contains(string(bad.Raw), `"not an object"`) {
		t.Errorf("mistyped message should be kept partially with its Raw: %+v", bad)
	}
	if got := bad.Preview(); got != "Unsupported message" {
		t.Errorf("Preview of a partially decoded text = %q", got)
	}
	if items := v.Messages[2].Order.ProductItems; items[0].Quantity != 2 || items[0].ItemPrice != 7.99 {
		t.Errorf("string quantity/price: %+v", items)
	}
	if s := v.Messages[3].System; s.NewWaID != "12195555358" || s.Type != SystemCustomerChangedNumber {
		t.Errorf("numeric new_wa_id: %+v", s)
	}
	if s := v.Statuses[0]; s.Status != "warning" || s.Conversation.ExpirationTimestamp != "1779616400" {
		t.Errorf("status kept as-is: %+v %+v", s, s.Conversation)
	}
}

func TestTimeRejectsBadTimestamp(t *testing.T) {
	for _, ts := range []string{"", "abc", "1.5", "99999999999999999999"} {
		m := Message{Timestamp: ts}
		if _, err := m.Time(); err == nil {
			t.Errorf("Time(%q) = nil error", ts)
		}
	}
}

func TestPreview(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"multiline text", Message{Type: "text", Text: &Text{Body: "line one\nline  two\r\n\tthree "}}, "line one line two three"},
		{"image without caption", Message{Type: "image", Image: &Media{ID: "1"}}, "📷 Photo"},
		{"video with caption", Message{Type: "video", Video: &Media{Caption: "look"}}, "look"},
		{"audio file", Message{Type: "audio", Audio: &Media{}}, "🎵 Audio"},
		{"document by name", Message{Type: "document", Document: &Media{Filename: "a.pdf"}}, "📄 a.pdf"},
		{"document bare", Message{Type: "document", Document: &Media{}}, "📄 Document"},
		{"location by address", Message{Type: "location", Location: &Location{Address: "Main St 1"}}, "📍 Location: Main St 1"},
		{"location bare", Message{Type: "location", Location: &Location{}}, "📍 Location"},
		{"two contacts", Message{Type: "contacts", Contacts: []SharedContact{{}, {}}}, "👤 2 contacts"},
		{"one item order", Message{Type: "order", Order: &Order{ProductItems: []ProductItem{{Quantity: 1}}}}, "🛒 Order: 1 item"},
		{"nfm without body", Message{Type: "interactive", Interactive: &Interactive{Type: "nfm_reply", NFMReply: &NFMReply{}}}, "📝 Form submitted"},
		{"interactive unknown", Message{Type: "interactive", Interactive: &Interactive{Type: "call_permission_reply"}}, "Interactive reply"},
		{"system without body", Message{Type: "system", System: &System{}}, "System message"},
		{"request welcome", Message{Type: "request_welcome"}, "👋 Opened the chat"},
		{"text without text", Message{Type: "text"}, "Unsupported message"},
		{"unknown", Message{Type: "hologram"}, "Unsupported message"},
	}
	for _, tc := range tests {
		if got := tc.m.Preview(); got != tc.want {
			t.Errorf("%s: Preview() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestContactFor(t *testing.T) {
	v := Value{
		Contacts: []Contact{{WaID: "1", Profile: Profile{Name: "One"}}, {UserID: "US.2", Profile: Profile{Name: "Two"}}},
		Messages: []Message{{From: "1"}, {FromUserID: "US.2"}, {From: "3"}},
	}
	for i, want := range []string{"One", "Two", ""} {
		var got string
		if c := v.ContactFor(&v.Messages[i]); c != nil {
			got = c.Profile.Name
		}
		if got != want {
			t.Errorf("ContactFor(message %d) = %q, want %q", i, got, want)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"message_text.json", "multi_entry_multi_change.json"} {
		body := readEvent(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	secret := []byte("app-secret")
	body := readEvent(b, "multi_entry_multi_change.json")
	sig := Sign(secret, body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := VerifySignature(secret, body, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// badInputDir holds signed bodies Meta (or something posing as it) could
// send that cannot be read in full; each has a case here.
const badInputDir = eventsDir + "/badinput"

var badInputCases = []struct {
	file                         string
	messages, statuses, problems int
	err                          error // Parse refuses the whole body
}{
	{file: "partial_message_not_object.json", messages: 1, problems: 1},
	{file: "partial_entry_not_object.json", messages: 1, problems: 1},
	{file: "partial_field_wrong_shape.json", messages: 2, problems: 1},
	{file: "flexible_numbers.json", messages: 1, statuses: 1},
	{file: "future_timestamp.json", messages: 1},
	{file: "control_character_ids.json", messages: 2, statuses: 1}, // ids are the intake's to refuse
	{file: "invalid_utf8.json", messages: 1},
	{file: "wrong_object.json", err: ErrWrongObject},
}

func TestBadInputEvents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(badInputDir, "*.json"))
	covered := map[string]bool{}
	for _, tc := range badInputCases {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in badInputCases: add one", filepath.Base(f))
		}
	}
	for _, tc := range badInputCases {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(badInputDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			n, err := Parse(body)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msgs, sts := count(n); msgs != tc.messages || sts != tc.statuses || len(n.Problems) != tc.problems {
				t.Fatalf("messages, statuses, problems = %d, %d, %v; want %d, %d, %d", msgs, sts, n.Problems, tc.messages, tc.statuses, tc.problems)
			}
			// What was read survives a round trip.
			again := roundTrip(t, n)
			clearRaw(n)
			if !reflect.DeepEqual(n, again) {
				a, _ := json.Marshal(n)
				b, _ := json.Marshal(again)
				t.Errorf("round trip differs:\n%s\n%s", a, b)
			}
		})
	}
}
