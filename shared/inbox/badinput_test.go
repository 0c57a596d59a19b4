package inbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// badInput is a fixture whose intake keeps what it cannot store in a blob
// store on disk, and whose logs the test can read.
type badInput struct {
	*fixture
	blobs string
	logs  *bytes.Buffer
}

func newBadInput(t *testing.T, s *storage.Store) *badInput {
	f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-ana"}})
	root := t.TempDir()
	var logs bytes.Buffer
	f.intake.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	f.intake.Quarantine = &httpapi.Quarantine{Blobs: fileblob.New(root, "http://blobs.invalid", []byte("k")), Now: f.intake.Now}
	return &badInput{fixture: f, blobs: root, logs: &logs}
}

// kept returns the bodies kept under malformed/.
func (b *badInput) kept(t *testing.T) []httpapi.QuarantinedBody {
	t.Helper()
	var out []httpapi.QuarantinedBody
	files, _ := filepath.Glob(filepath.Join(b.blobs, "malformed", "*", "*", "*", "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, doc, _ := bytes.Cut(raw, []byte("\n")) // fileblob's metadata line
		var q httpapi.QuarantinedBody
		if err := json.Unmarshal(doc, &q); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, q)
	}
	return out
}

func (b *badInput) messages(t *testing.T) []inbox.Message {
	t.Helper()
	var out []inbox.Message
	for _, c := range allConversations(t, b.store, inbox.Filter{}) {
		out = append(out, allMessages(t, b.store, c.ID)...)
	}
	return out
}

func wamids(ms []inbox.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestBadInput(t *testing.T) {
	for name, test := range map[string]func(*testing.T, *storage.Store){
		"a body read in part stores what it can and keeps the rest": testReadInPart,
		"numbers sent as strings and strings as numbers":            testFlexibleScalars,
		"webhook-level errors are logged and counted":               testWebhookErrors,
		"invalid UTF-8 is replaced before it is stored":             testInvalidUTF8,
		"a timestamp in the future is clamped and flagged":          testFutureTimestamp,
		"ids with control characters are refused, counted and kept": testControlCharacterIDs,
		"a signed body that is not a WhatsApp notification is kept": testWrongObject,
	} {
		storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
			t.Run(name, func(t *testing.T) { test(t, s) })
		})
	}
}

func textMessage(wamid, from string, at time.Time, text string) map[string]any {
	return map[string]any{"from": from, "id": wamid, "timestamp": fmt.Sprint(at.Unix()), "type": "text", "text": map[string]any{"body": text}}
}

func testReadInPart(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	good := body(pnid, []map[string]any{{"wa_id": "15550001", "profile": map[string]any{"name": "Ana"}}},
		[]map[string]any{textMessage("wamid.GOOD1", "15550001", t0, "hola")}, nil)
	// Splice bad parts in beside the good ones: a message that is a number,
	// a message whose text is not an object, and a change whose value is a list.
	raw := strings.Replace(string(good), `"messages":[`, `"messages":[42,{"from":"15550001","id":"wamid.PART","timestamp":"`+fmt.Sprint(t0.Unix())+`","type":"text","text":"not an object"},`, 1)
	raw = strings.Replace(raw, `"changes":[`, `"changes":[{"field":"messages","value":[1,2]},`, 1)
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatalf("a body read in part must not be retried: %v", err)
	}
	if got := wamids(b.messages(t)); strings.Join(got, ",") != "wamid.GOOD1,wamid.PART" && strings.Join(got, ",") != "wamid.PART,wamid.GOOD1" {
		t.Errorf("stored %v, want the good message and the one read in part", got)
	}
	if got := b.intake.Counts.Malformed.Load(); got != 3 {
		t.Errorf("malformed count %d, want 3", got)
	}
	kept := b.kept(t)
	if len(kept) != 1 || kept[0].Body != raw || len(kept[0].Problems) != 3 || kept[0].Reason == "" {
		t.Fatalf("kept %+v, want the body with its 3 problems", kept)
	}
	for _, p := range kept[0].Problems {
		if p.Path == "" || p.Reason == "" {
			t.Errorf("problem without a path or reason: %+v", p)
		}
	}
	// A redelivery stores nothing twice and keeps the same copy.
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if got := len(b.messages(t)); got != 2 {
		t.Errorf("after a redelivery %d messages, want 2", got)
	}
	if got := len(b.kept(t)); got != 1 {
		t.Errorf("after a redelivery %d copies kept, want 1", got)
	}
}

func testFlexibleScalars(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	raw := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":102290129340398,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":15550001111,"phone_number_id":%s},
		"contacts":[{"wa_id":15550002,"profile":{"name":"Ben"}}],
		"messages":[{"from":15550002,"id":"wamid.NUM","timestamp":%d,"type":"text","text":{"body":"numbers"}}]}}]}]}`, pnid, t0.Unix())
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	ms := b.messages(t)
	if len(ms) != 1 || ms[0].ID != "wamid.NUM" || !ms[0].Timestamp.Equal(t0) {
		t.Fatalf("stored %+v, want wamid.NUM at %v", ms, t0)
	}
	if n := len(b.kept(t)); n != 0 || b.intake.Counts.Malformed.Load() != 0 {
		t.Errorf("a body with numbers for strings was kept as malformed (%d)", n)
	}
}

func testWebhookErrors(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	raw := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},
		"errors":[{"code":131000,"title":"Something went wrong","message":"Something went wrong","error_data":{"details":"Unable to process"}}]}}]}]}`, pnid)
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if got := b.intake.Counts.WebhookErrors.Load(); got != 1 {
		t.Errorf("webhook errors %d, want 1", got)
	}
	if logs := b.logs.String(); !strings.Contains(logs, `"metric":"webhook_error"`) || !strings.Contains(logs, `"code":131000`) || !strings.Contains(logs, "Unable to process") {
		t.Errorf("webhook error not logged with its code, details and metric:\n%s", logs)
	}
}

func testInvalidUTF8(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	good := string(body(pnid, []map[string]any{{"wa_id": "15550003", "profile": map[string]any{"name": "Cy MARK"}}},
		[]map[string]any{textMessage("wamid.UTF", "15550003", t0, "caf MARK ok")}, nil))
	raw := strings.ReplaceAll(good, "MARK", "\xff\xfe\xc3") // bytes that are not UTF-8
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	ms := b.messages(t)
	if len(ms) != 1 {
		t.Fatalf("stored %d messages, want 1", len(ms))
	}
	m := ms[0]
	for what, v := range map[string]string{"text": m.Text, "preview": m.Preview, "content": string(m.Content)} {
		if !utf8.ValidString(v) || !strings.Contains(v, "\uFFFD") {
			t.Errorf("%s %q: want valid UTF-8 with the replacement character", what, v)
		}
	}
	if !json.Valid(m.Content) {
		t.Errorf("content is no longer JSON: %q", m.Content)
	}
	c := allConversations(t, b.store, inbox.Filter{})[0]
	if !utf8.ValidString(c.Customer.Name) || !utf8.ValidString(c.LastMessagePreview) {
		t.Errorf("conversation %q / %q holds invalid UTF-8", c.Customer.Name, c.LastMessagePreview)
	}
	served, err := json.Marshal(m)
	if err != nil || !utf8.Valid(served) {
		t.Errorf("served message is not UTF-8 (%v): %q", err, served)
	}
}

func testFutureTimestamp(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	received := b.intake.Now()
	future := received.Add(30 * 24 * time.Hour)
	slightlyAhead := received.Add(2 * time.Minute) // clocks differ a little: kept as sent
	raw := body(pnid, []map[string]any{{"wa_id": "15550004", "profile": map[string]any{"name": "Dee"}}},
		[]map[string]any{textMessage("wamid.FUTURE", "15550004", future, "from the future"), textMessage("wamid.AHEAD", "15550004", slightlyAhead, "a bit ahead")}, nil)
	if err := b.intake.HandleBody(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	got := map[string]inbox.Message{}
	for _, m := range b.messages(t) {
		got[m.ID] = m
	}
	if m := got["wamid.FUTURE"]; !m.Timestamp.Equal(received) || !m.TimestampClamped {
		t.Errorf("future message at %v clamped %v; want %v, clamped", m.Timestamp, m.TimestampClamped, received)
	}
	if m := got["wamid.AHEAD"]; !m.Timestamp.Equal(slightlyAhead) || m.TimestampClamped {
		t.Errorf("message 2 minutes ahead at %v clamped %v; want it as sent", m.Timestamp, m.TimestampClamped)
	}
	if n := b.intake.Counts.FutureTimestamps.Load(); n != 1 {
		t.Errorf("future timestamps %d, want 1", n)
	}
	// The window runs from the receipt, not from a date a month ahead.
	c := allConversations(t, b.store, inbox.Filter{})[0]
	if exp := c.WindowExpiresAt(); exp.After(received.Add(inbox.Window + 5*time.Minute)) {
		t.Errorf("window expires at %v, beyond 24 hours after the receipt %v", exp, received)
	}
}

func testControlCharacterIDs(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	at := fmt.Sprint(t0.Unix())
	raw := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
		{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%[1]s"},
			"contacts":[{"wa_id":"15550005","profile":{"name":"Eve"}}],
			"messages":[
				{"from":"15550005","id":"wamid.CTRL\u0001X","timestamp":"%[2]s","type":"text","text":{"body":"bad wamid"}},
				{"from":"1555\u0000005","id":"wamid.CTRL2","timestamp":"%[2]s","type":"text","text":{"body":"bad sender"}},
				{"from":"15550005","id":"wamid.OK","timestamp":"%[2]s","type":"text","text":{"body":"good"}}],
			"statuses":[{"id":"wamid.S\nX","status":"read","timestamp":"%[2]s","recipient_id":"15550005"}]}},
		{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%[1]s\u0007"},
			"messages":[{"from":"15550005","id":"wamid.ROUTE","timestamp":"%[2]s","type":"text","text":{"body":"bad number"}}]}}
	]}]}`, pnid, at)
	if err := b.intake.HandleBody(context.Background(), []byte(raw)); err != nil {
		t.Fatalf("refused ids must not be retried: %v", err)
	}
	if got := wamids(b.messages(t)); strings.Join(got, ",") != "wamid.OK" {
		t.Errorf("stored %v, want only wamid.OK", got)
	}
	if got := b.intake.Counts.RefusedIDs.Load(); got != 4 {
		t.Errorf("refused %d, want 4 (wamid, sender, status, phone number id)", got)
	}
	kept := b.kept(t)
	if len(kept) != 1 || len(kept[0].Problems) != 4 || kept[0].Body != raw {
		t.Fatalf("kept %+v, want the body with 4 problems", kept)
	}
}

func testWrongObject(t *testing.T, s *storage.Store) {
	b := newBadInput(t, s)
	raw := []byte(`{"object":"page","entry":[]}`)
	err := b.intake.HandleBody(context.Background(), raw)
	if !errors.Is(err, inbox.ErrUnprocessable) {
		t.Errorf("err %v, want unprocessable (not retried)", err)
	}
	if kept := b.kept(t); len(kept) != 1 || kept[0].Body != string(raw) || kept[0].Reason == "" {
		t.Errorf("kept %+v, want the body with a reason", kept)
	}
}

// The samples under events/whatsapp/badinput, each through the intake on
// a table of its own: what can be stored is, the rest is kept and counted,
// none is retried.
func TestBadInputSamples(t *testing.T) {
	tests := []struct {
		file          string
		stored        int
		kept          bool
		unprocessable bool
		refused       int64
		futureClamped int64
		wantReplaced  bool // U+FFFD in the stored text
	}{
		{file: "partial_message_not_object.json", stored: 1, kept: true},
		{file: "partial_entry_not_object.json", stored: 1, kept: true},
		{file: "partial_field_wrong_shape.json", stored: 2, kept: true},
		{file: "flexible_numbers.json", stored: 1},
		{file: "future_timestamp.json", stored: 1, futureClamped: 1},
		{file: "control_character_ids.json", stored: 1, kept: true, refused: 2},
		{file: "invalid_utf8.json", stored: 1, wantReplaced: true},
		{file: "wrong_object.json", kept: true, unprocessable: true},
	}
	files, _ := filepath.Glob("../../events/whatsapp/badinput/*.json")
	if len(files) != len(tests) {
		t.Errorf("%d sample files, %d cases: give every sample a case", len(files), len(tests))
	}
	for _, tc := range tests {
		for backend, newTable := range storagetest.Tables(t) {
			t.Run(backend+"/"+tc.file, func(t *testing.T) {
				b := newBadInput(t, storage.New(newTable(t)))
				received := time.Unix(1779530000, 0).Add(time.Minute).UTC() // the samples' time
				b.intake.Now = func() time.Time { return received }
				raw, err := os.ReadFile(filepath.Join("../../events/whatsapp/badinput", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				err = b.intake.HandleBody(context.Background(), raw)
				if tc.unprocessable != errors.Is(err, inbox.ErrUnprocessable) || (!tc.unprocessable && err != nil) {
					t.Fatalf("HandleBody: %v", err)
				}
				var ms []inbox.Message
				for _, c := range allConversations(t, b.store, inbox.Filter{}) {
					if c.PhoneNumberID == pnid {
						ms = append(ms, allMessages(t, b.store, c.ID)...)
					}
				}
				if len(ms) != tc.stored {
					t.Errorf("stored %d messages, want %d", len(ms), tc.stored)
				}
				if kept := len(b.kept(t)); (kept == 1) != tc.kept || kept > 1 {
					t.Errorf("kept %d copies, want kept %v", kept, tc.kept)
				}
				if got := b.intake.Counts.RefusedIDs.Load(); got != tc.refused {
					t.Errorf("refused %d, want %d", got, tc.refused)
				}
				if got := b.intake.Counts.FutureTimestamps.Load(); got != tc.futureClamped {
					t.Errorf("future timestamps %d, want %d", got, tc.futureClamped)
				}
				for _, m := range ms {
					if !utf8.ValidString(m.Text) || !utf8.Valid(m.Content) || m.Timestamp.After(received) {
						t.Errorf("stored %+v: invalid UTF-8 or dated after its receipt", m)
					}
					if tc.wantReplaced && !strings.Contains(m.Text, "\uFFFD") {
						t.Errorf("text %q: want the replacement character", m.Text)
					}
				}
			})
		}
	}
}
