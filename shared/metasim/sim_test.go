package metasim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

const (
	testSecret = "test-app-secret"
	testToken  = "tok-main"
	otherToken = "tok-other"
	mainNumber = "106540352242922"
	customerWa = "16505551234"
)

// receiver is the business's webhook as a test server: it checks every
// request the way the real handler must (signature over the raw bytes) and
// keeps what it got.
type receiver struct {
	t         *testing.T
	srv       *httptest.Server
	failFirst atomic.Int32 // answer this many requests with 500
	mu        sync.Mutex
	bodies    [][]byte
	headers   []http.Header
	notes     []*whatsapp.Notification
	attempts  int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			challenge, err := whatsapp.VerifyHandshake(r.URL.Query(), "verify-me")
			if err != nil {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			_, _ = io.WriteString(w, challenge)
			return
		}
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.attempts++
		rc.mu.Unlock()
		if rc.failFirst.Add(-1) >= 0 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		if err := whatsapp.VerifySignature([]byte(testSecret), body, r.Header.Get(whatsapp.SignatureHeader)); err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		n, err := whatsapp.Parse(body)
		if err != nil {
			t.Errorf("webhook body: %v\n%s", err, body)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.headers = append(rc.headers, r.Header.Clone())
		rc.notes = append(rc.notes, n)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) messages() []whatsapp.Message {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []whatsapp.Message
	for _, n := range rc.notes {
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				out = append(out, c.Value.Messages...)
			}
		}
	}
	return out
}

func (rc *receiver) statuses() []whatsapp.Status {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []whatsapp.Status
	for _, n := range rc.notes {
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				out = append(out, c.Value.Statuses...)
			}
		}
	}
	return out
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	sim   *Sim
	rc    *receiver
	graph *whatsapp.GraphClient
	api   *httptest.Server
	clock *clock
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	rc := newReceiver(t)
	clk := newClock()
	cfg := Config{
		WebhookURL:   rc.srv.URL + "/webhook",
		AppSecret:    testSecret,
		VerifyToken:  "verify-me",
		StatusDelay:  time.Millisecond,
		RetryBackoff: time.Millisecond,
		Now:          clk.Now,
		Numbers: []Number{
			{PhoneNumberID: mainNumber, DisplayPhoneNumber: "15550783881", WABAID: "102290129340398", AccessTokens: []string{testToken}},
			{PhoneNumberID: "301234567890123", DisplayPhoneNumber: "34911234567", WABAID: "209876543210987", AccessTokens: []string{otherToken}},
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sim := New(cfg)
	t.Cleanup(sim.Close)
	api := httptest.NewServer(sim.Handler())
	t.Cleanup(api.Close)
	return &fixture{sim: sim, rc: rc, graph: &whatsapp.GraphClient{BaseURL: api.URL + "/v23.0", HTTP: api.Client()}, api: api, clock: clk}
}

func (f *fixture) customerWrites(t *testing.T, in Inbound) SendResult {
	t.Helper()
	if in.From == "" && in.UserID == "" {
		in.From = customerWa
	}
	if in.Name == "" {
		in.Name = "Ana"
	}
	res, err := f.sim.Send(context.Background(), in)
	if err != nil {
		t.Fatalf("customer send: %v", err)
	}
	return res
}

func text(body string) whatsapp.OutboundMessage {
	return whatsapp.OutboundMessage{To: customerWa, Type: "text", Text: &whatsapp.OutText{Body: body}}
}

func TestInboundTextAsMetaSendsIt(t *testing.T) {
	f := newFixture(t, nil)
	res := f.customerWrites(t, Inbound{Text: "hola 👋 café https://x.example/a", Name: "Ana García"})
	if res.Status != 200 || res.Attempts != 1 {
		t.Errorf("result = %+v", res)
	}
	body, h := f.rc.bodies[0], f.rc.headers[0]
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != UserAgent || !strings.HasPrefix(h.Get("X-Hub-Signature"), "sha1=") {
		t.Errorf("headers = %v", h)
	}
	for _, want := range []string{`hola \ud83d\udc4b caf\u00e9 https:\/\/x.example\/a`, `"Ana Garc\u00eda"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("body lacks Meta's escaping %s:\n%s", want, body)
		}
	}
	if bytes.ContainsAny(body, "👋é") {
		t.Errorf("body has raw non-ASCII: %s", body)
	}
	n := f.rc.notes[0]
	v := n.Entry[0].Changes[0].Value
	m := v.Messages[0]
	if m.From != customerWa || m.Type != "text" || m.Text.Body != "hola 👋 café https://x.example/a" || m.ID != res.ID {
		t.Errorf("message = %+v", m)
	}
	if m.FromUserID == "" || !strings.HasPrefix(m.FromUserID, "US.") || v.ContactFor(&m).Profile.Name != "Ana García" || v.Metadata.PhoneNumberID != mainNumber {
		t.Errorf("sender = %q contacts = %+v", m.FromUserID, v.Contacts)
	}
	if ts, _ := m.Time(); !ts.Equal(f.clock.Now().Truncate(time.Second)) {
		t.Errorf("timestamp = %v", ts)
	}
	assertWamid(t, m.ID, customerWa, true)
}

func assertWamid(t *testing.T, wamid, customer string, inbound bool) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(wamid, "wamid."))
	if err != nil || !strings.HasPrefix(wamid, "wamid.HBg") {
		t.Fatalf("wamid %q: %v", wamid, err)
	}
	kind, idLen := byte(0x11), 18
	if inbound {
		kind, idLen = 0x12, 20
	}
	want := append([]byte{0x1C, 0x18, byte(len(customer))}, customer...)
	want = append(want, 0x15, 0x02, 0x00, kind, 0x18, byte(idLen))
	if !bytes.HasPrefix(raw, want) || len(raw) != len(want)+idLen+1 || raw[len(raw)-1] != 0 {
		t.Errorf("wamid %q decodes to %x, want prefix %x", wamid, raw, want)
	}
}

func TestInboundEveryType(t *testing.T) {
	f := newFixture(t, nil)
	prev := f.customerWrites(t, Inbound{Text: "first"}).ID
	tests := []struct {
		in      Inbound
		preview string
	}{
		{Inbound{Type: "image", Caption: "receipt"}, "receipt"},
		{Inbound{Type: "video"}, "🎥 Video"},
		{Inbound{Type: "audio", Voice: true}, "🎤 Voice message"},
		{Inbound{Type: "document", Filename: "quote.pdf", Media: []byte("%PDF-1.7 x"), MimeType: "application/pdf"}, "📄 quote.pdf"},
		{Inbound{Type: "sticker"}, "🏷️ Sticker"},
		{Inbound{Type: "location", Latitude: 40.4168, Longitude: -3.7038, LocationName: "Sol"}, "📍 Location: Sol"},
		{Inbound{Type: "contacts", ContactName: "Barbara Johnson", ContactPhone: "+1 415 555 1234"}, "👤 Contact: Barbara Johnson"},
		{Inbound{Type: "interactive", ButtonID: "yes", ButtonTitle: "Yes"}, "Yes"},
		{Inbound{Type: "interactive", ListID: "row-2", ListTitle: "Thursday"}, "Thursday"},
		{Inbound{Type: "button", Payload: "STOP", Text: "Stop promotions"}, "Stop promotions"},
		{Inbound{Type: "reaction", ReactTo: prev, Emoji: "❤️"}, "❤️ reacted to a message"},
		{Inbound{Type: "order", Items: []whatsapp.ProductItem{{ProductRetailerID: "sku", Quantity: 2, ItemPrice: 9.5, Currency: "EUR"}}}, "🛒 Order: 2 items"},
		{Inbound{Type: "unsupported", UnsupportedType: "poll_creation"}, "Unsupported message"},
		{Inbound{Type: "poll_vote", Raw: json.RawMessage(`{"option":"Thursday"}`)}, "Unsupported message"},
		{Inbound{Type: "text", Text: "a reply", ReplyTo: prev}, "a reply"},
		{Inbound{Type: "system", NewWaID: "+1 219 555 5358"}, "User Ana changed from 16505551234 to 12195555358"},
	}
	for _, tc := range tests {
		t.Run(tc.in.Type+" "+tc.preview, func(t *testing.T) {
			before := len(f.rc.messages())
			f.customerWrites(t, tc.in)
			msgs := f.rc.messages()
			if len(msgs) != before+1 {
				t.Fatalf("%d messages delivered, want %d", len(msgs), before+1)
			}
			m := msgs[len(msgs)-1]
			if m.Type != tc.in.Type || m.Preview() != tc.preview || m.PartiallyDecoded {
				t.Errorf("type %q preview %q partial %v; want %q %q", m.Type, m.Preview(), m.PartiallyDecoded, tc.in.Type, tc.preview)
			}
			if tc.in.ReplyTo != "" && (m.Context == nil || m.Context.ID != tc.in.ReplyTo) {
				t.Errorf("context = %+v", m.Context)
			}
			if tc.in.Type == "poll_vote" && !bytes.Contains(m.Raw, []byte(`"poll_vote":{"option":"Thursday"}`)) {
				t.Errorf("raw = %s", m.Raw)
			}
			if md := m.MediaInfo(); md != nil {
				// The business can fetch what the customer sent.
				u, mimeType, size, err := f.graph.MediaURL(context.Background(), md.ID, testToken)
				if err != nil {
					t.Fatal(err)
				}
				b, err := f.graph.Download(context.Background(), u, testToken)
				if err != nil {
					t.Fatal(err)
				}
				if mimeType != md.MimeType || int(size) != len(b) || sha256Hex(b) != md.SHA256 {
					t.Errorf("media %s: mime %q size %d sha %s; webhook said %q %s", md.ID, mimeType, size, sha256Hex(b), md.MimeType, md.SHA256)
				}
				if tc.in.Media != nil && !bytes.Equal(b, tc.in.Media) {
					t.Errorf("downloaded %q, want %q", b, tc.in.Media)
				}
			}
		})
	}
	// After the system message the customer is known by the new number.
	if !f.sim.WindowOpen(mainNumber, "12195555358") {
		t.Error("customer not found under the new number")
	}
}

func TestInboundUsernameOnly(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{UserID: "BR.61922874001355608821", Name: "Kai", Username: "@kai", Text: "oi"})
	n := f.rc.notes[0]
	v := n.Entry[0].Changes[0].Value
	m := v.Messages[0]
	if m.From != "" || m.FromUserID != "BR.61922874001355608821" || m.SenderKey() != "BR.61922874001355608821" || v.Contacts[0].WaID != "" || v.Contacts[0].Profile.Username != "@kai" {
		t.Errorf("message %+v contact %+v", m, v.Contacts[0])
	}
	if bytes.Contains(f.rc.bodies[0], []byte(`"from"`)) || bytes.Contains(f.rc.bodies[0], []byte(`"wa_id"`)) {
		t.Errorf("a username-only sender must carry no phone number: %s", f.rc.bodies[0])
	}
	// The business answers through the BSUID (Meta's "recipient").
	wamid, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, whatsapp.OutboundMessage{ToUserID: "BR.61922874001355608821", Type: "text", Text: &whatsapp.OutText{Body: "olá!"}})
	if err != nil {
		t.Fatal(err)
	}
	f.sim.Wait()
	sts := f.rc.statuses()
	if len(sts) != 3 || sts[0].ID != wamid || sts[0].RecipientID != "" || sts[0].RecipientUserID != "BR.61922874001355608821" {
		t.Errorf("statuses = %+v", sts)
	}
	if out := f.sim.Outbox("BR.61922874001355608821"); len(out) != 1 || out[0].Text != "olá!" {
		t.Errorf("outbox = %+v", out)
	}
}

func TestOmitUserIDs(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OmitUserIDs = true })
	f.customerWrites(t, Inbound{Text: "hi"})
	if bytes.Contains(f.rc.bodies[0], []byte("user_id")) {
		t.Errorf("pre-2026 shape should carry no user ids: %s", f.rc.bodies[0])
	}
}

func TestWebhookRetriesLikeMeta(t *testing.T) {
	f := newFixture(t, nil)
	f.rc.failFirst.Store(2)
	res := f.customerWrites(t, Inbound{Text: "retry me"})
	if res.Attempts != 3 || res.Status != 200 || len(f.rc.messages()) != 1 {
		t.Errorf("result %+v, %d messages", res, len(f.rc.messages()))
	}

	f.rc.failFirst.Store(100)
	res, err := f.sim.Send(context.Background(), Inbound{From: customerWa, Text: "lost"})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Attempts != 4 || de.LastStatus != 500 || res.ID == "" {
		t.Errorf("Send = %+v, %v; want a DeliveryError after 4 attempts", res, err)
	}
}

func TestGraphSendAndStatuses(t *testing.T) {
	f := newFixture(t, nil)
	in := f.customerWrites(t, Inbound{Text: "¿precio?"})

	// The exact success answer, read raw.
	req, _ := http.NewRequest(http.MethodPost, f.api.URL+"/v23.0/"+mainNumber+"/messages",
		strings.NewReader(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+1 (650) 555-1234","type":"text","text":{"body":"12 €"},"context":{"message_id":"`+in.ID+`"}}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MessagingProduct string              `json:"messaging_product"`
		Contacts         []map[string]string `json:"contacts"`
		Messages         []map[string]string `json:"messages"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != 200 || got.MessagingProduct != "whatsapp" || got.Contacts[0]["input"] != "+1 (650) 555-1234" || got.Contacts[0]["wa_id"] != customerWa || len(got.Messages) != 1 {
		t.Fatalf("answer %d %+v", resp.StatusCode, got)
	}
	wamid := got.Messages[0]["id"]
	assertWamid(t, wamid, customerWa, false)

	f.sim.Wait()
	sts := f.rc.statuses()
	var order []string
	for _, s := range sts {
		order = append(order, s.Status)
		if s.ID != wamid || s.RecipientID != customerWa || s.RecipientUserID == "" {
			t.Errorf("status %+v", s)
		}
		if s.Pricing == nil || s.Pricing.PricingModel != "PMP" || s.Pricing.Category != "service" || s.Pricing.Type != "free_customer_service" || s.Pricing.Billable || s.Conversation != nil {
			t.Errorf("pricing %+v conversation %+v", s.Pricing, s.Conversation)
		}
	}
	if strings.Join(order, ",") != "sent,delivered,read" {
		t.Errorf("statuses posted %v", order)
	}
	out := f.sim.Outbox("+16505551234")
	if len(out) != 1 || out[0].ID != wamid || out[0].Text != "12 €" || out[0].ReplyTo != in.ID || strings.Join(out[0].Statuses, ",") != "sent,delivered,read" || !bytes.Contains(out[0].Request, []byte(`"12 €"`)) {
		t.Errorf("outbox = %+v", out)
	}
}

func TestGraphAuth(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{Text: "hi"})
	tests := []struct {
		name, number, token string
		status, code        int
	}{
		{"bad token", mainNumber, "nope", 401, whatsapp.ErrCodeAccessToken},
		{"no token", mainNumber, "", 401, whatsapp.ErrCodeAccessToken},
		{"another number's token", mainNumber, otherToken, 400, whatsapp.ErrCodeInvalidParameter},
		{"unknown number", "999", testToken, 400, whatsapp.ErrCodeInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.graph.SendMessage(context.Background(), tc.number, tc.token, text("x"))
			ge, ok := whatsapp.AsGraphError(err)
			if !ok || ge.Status != tc.status || ge.Code != tc.code || ge.Retryable() {
				t.Fatalf("err = %v; want http %d code %d", err, tc.status, tc.code)
			}
		})
	}
	c := *f.graph
	c.BaseURL = f.api.URL + "/latest"
	if _, err := c.SendMessage(context.Background(), mainNumber, testToken, text("x")); err == nil {
		t.Error("a path without a version was accepted")
	}
}

func TestGraphWindow(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()

	_, err := f.graph.SendMessage(ctx, mainNumber, testToken, text("never wrote"))
	if !whatsapp.IsWindowClosed(err) {
		t.Fatalf("send to a customer who never wrote: %v, want 131047", err)
	}

	f.customerWrites(t, Inbound{Text: "hi"})
	if _, err := f.graph.SendMessage(ctx, mainNumber, testToken, text("inside")); err != nil {
		t.Fatalf("inside the window: %v", err)
	}
	// The window belongs to the number the customer wrote to.
	if _, err := f.graph.SendMessage(ctx, "301234567890123", otherToken, text("other number")); !whatsapp.IsWindowClosed(err) {
		t.Errorf("another business number: %v, want 131047", err)
	}

	f.clock.Advance(24*time.Hour + time.Second)
	if _, err := f.graph.SendMessage(ctx, mainNumber, testToken, text("too late")); !whatsapp.IsWindowClosed(err) {
		t.Fatalf("after 24h: %v, want 131047", err)
	}
	tmpl := whatsapp.OutboundMessage{To: customerWa, Type: "template", Template: &whatsapp.OutTemplate{Name: "follow_up", Language: whatsapp.TemplateLanguage{Code: "es"}}}
	wamid, err := f.graph.SendMessage(ctx, mainNumber, testToken, tmpl)
	if err != nil {
		t.Fatalf("template outside the window: %v", err)
	}
	f.sim.Wait()
	for _, s := range f.rc.statuses() {
		if s.ID == wamid && (s.Pricing.Category != "utility" || s.Pricing.Type != "regular" || !s.Pricing.Billable) {
			t.Errorf("template pricing = %+v", s.Pricing)
		}
	}

	// A message the customer sent 25 hours ago opens no window.
	f.customerWrites(t, Inbound{From: "34600111222", Text: "old", Timestamp: f.clock.Now().Add(-25 * time.Hour)})
	if _, err := f.graph.SendMessage(ctx, mainNumber, testToken, whatsapp.OutboundMessage{To: "34600111222", Type: "text", Text: &whatsapp.OutText{Body: "x"}}); !whatsapp.IsWindowClosed(err) {
		t.Errorf("customer wrote 25h ago: %v, want 131047", err)
	}
}

func TestWindowClosedAsFailedStatus(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.WindowClosedAsFailedStatus = true })
	wamid, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, text("never wrote"))
	if err != nil {
		t.Fatalf("send = %v; want it accepted", err)
	}
	f.sim.Wait()
	sts := f.rc.statuses()
	if len(sts) != 1 || sts[0].ID != wamid || sts[0].Status != "failed" || len(sts[0].Errors) != 1 || sts[0].Errors[0].Code != whatsapp.ErrCodeWindowClosed || sts[0].Pricing != nil || sts[0].RecipientUserID != "" {
		t.Fatalf("statuses = %+v", sts)
	}
	if bytes.Contains(f.rc.bodies[0], []byte(`"contacts"`)) {
		t.Error("a failed status carries no contacts")
	}
	if out := f.sim.Outbox(customerWa); len(out) != 1 || out[0].Failed == nil || out[0].Failed.Code != whatsapp.ErrCodeWindowClosed {
		t.Errorf("outbox = %+v", out)
	}
}

func TestForcedFailures(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{Text: "hi"})
	f.sim.FailNext(whatsapp.ErrCodeThroughput, 2)
	f.sim.FailNext(whatsapp.ErrCodeWindowClosed, 1)
	var codes []int
	for i := 0; i < 4; i++ {
		_, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, text("x"))
		if ge, ok := whatsapp.AsGraphError(err); ok {
			codes = append(codes, ge.Code)
			if ge.Code == whatsapp.ErrCodeThroughput && !ge.Retryable() {
				t.Error("130429 should be retryable")
			}
		} else if err != nil {
			t.Fatal(err)
		} else {
			codes = append(codes, 0)
		}
	}
	if want := []int{130429, 130429, 131047, 0}; !equalInts(codes, want) {
		t.Errorf("codes = %v, want %v", codes, want)
	}
	if out := f.sim.Outbox(customerWa); len(out) != 1 {
		t.Errorf("failed sends reached the outbox: %d", len(out))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGraphInvalidParams(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{Text: "hi"})
	tests := []struct{ name, body string }{
		{"not json", `{"messaging_product":`},
		{"no messaging_product", `{"to":"16505551234","type":"text","text":{"body":"x"}}`},
		{"no recipient", `{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}`},
		{"bad phone", `{"messaging_product":"whatsapp","to":"call me","type":"text","text":{"body":"x"}}`},
		{"empty text", `{"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":" "}}`},
		{"text too long", `{"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":"` + strings.Repeat("a", 4097) + `"}}`},
		{"no type", `{"messaging_product":"whatsapp","to":"16505551234"}`},
		{"unknown type", `{"messaging_product":"whatsapp","to":"16505551234","type":"hologram"}`},
		{"unknown media id", `{"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{"id":"123"}}`},
		{"media id and link", `{"messaging_product":"whatsapp","to":"16505551234","type":"image","image":{"id":"1","link":"https://x"}}`},
		{"caption on audio", `{"messaging_product":"whatsapp","to":"16505551234","type":"audio","audio":{"link":"https://x/a.ogg","caption":"no"}}`},
		{"template without name", `{"messaging_product":"whatsapp","to":"16505551234","type":"template","template":{"language":{"code":"es"}}}`},
		{"group recipient", `{"messaging_product":"whatsapp","recipient_type":"group","to":"16505551234","type":"text","text":{"body":"x"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.api.URL+"/v23.0/"+mainNumber+"/messages", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb whatsapp.GraphErrorBody
			_ = json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != 400 || eb.Error.Code != whatsapp.ErrCodeInvalidParameter || eb.Error.ErrorData == nil || eb.Error.ErrorData.Details == "" || eb.Error.FBTraceID == "" {
				t.Errorf("answer %d %+v", resp.StatusCode, eb.Error)
			}
		})
	}
}

func TestUploadSendDownload(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{Text: "send me the quote"})
	ctx := context.Background()
	pdf := []byte("%PDF-1.4 the quote")
	id, err := f.graph.UploadMedia(ctx, mainNumber, testToken, "quote.pdf", "application/pdf", pdf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.graph.SendMessage(ctx, mainNumber, testToken, whatsapp.OutboundMessage{To: customerWa, Type: "document",
		Document: &whatsapp.OutMedia{ID: id, Filename: "quote.pdf", Caption: "Your quote"}}); err != nil {
		t.Fatal(err)
	}
	out := f.sim.Outbox(customerWa)
	if len(out) != 1 || out[0].MediaID != id || out[0].Filename != "quote.pdf" || out[0].Text != "Your quote" {
		t.Errorf("outbox = %+v", out)
	}
	if b, mimeType, ok := f.sim.Media(id); !ok || !bytes.Equal(b, pdf) || mimeType != "application/pdf" {
		t.Errorf("stored media = %q %q %v", b, mimeType, ok)
	}
	u, _, size, err := f.graph.MediaURL(ctx, id, testToken)
	if err != nil || size != int64(len(pdf)) {
		t.Fatalf("MediaURL = %v, %d", err, size)
	}
	if _, err := f.graph.Download(ctx, u, otherToken); err == nil {
		t.Error("another number's token downloaded the media")
	}
	if _, _, _, err := f.graph.MediaURL(ctx, id, otherToken); err == nil {
		t.Error("another number's token resolved the media")
	}
	f.clock.Advance(MediaURLTTL + time.Second)
	if _, err := f.graph.Download(ctx, u, testToken); err == nil {
		t.Error("an expired media URL still works")
	}
}

func TestStatusKnobs(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Statuses = []string{"sent", "delivered", "read"}
		c.DuplicateStatuses = true
		c.ShuffleStatuses = true
	})
	f.customerWrites(t, Inbound{Text: "hi"})
	if _, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, text("x")); err != nil {
		t.Fatal(err)
	}
	f.sim.Wait()
	counts := map[string]int{}
	for _, s := range f.rc.statuses() {
		counts[s.Status]++
	}
	if counts["sent"] != 2 || counts["delivered"] != 2 || counts["read"] != 2 {
		t.Errorf("statuses = %v, want each twice", counts)
	}

	g := newFixture(t, func(c *Config) { c.Statuses = []string{}; c.PricingModel = "CBP" })
	g.customerWrites(t, Inbound{Text: "hi"})
	wamid, err := g.graph.SendMessage(context.Background(), mainNumber, testToken, text("x"))
	if err != nil {
		t.Fatal(err)
	}
	g.sim.Wait()
	if n := len(g.rc.statuses()); n != 0 {
		t.Errorf("%d statuses with Statuses empty", n)
	}
	if err := g.sim.PostStatus(context.Background(), wamid, "sent"); err != nil {
		t.Fatal(err)
	}
	s := g.rc.statuses()[0]
	if s.Pricing.PricingModel != "CBP" || s.Conversation == nil || s.Conversation.ExpirationTimestamp == "" || s.Conversation.Origin.Type != "service" {
		t.Errorf("CBP status = %+v %+v", s.Pricing, s.Conversation)
	}
	if err := g.sim.PostStatus(context.Background(), "wamid.nope", "read"); err == nil {
		t.Error("PostStatus for an unknown message succeeded")
	}
}

func TestMarkRead(t *testing.T) {
	f := newFixture(t, nil)
	in := f.customerWrites(t, Inbound{Text: "hi"})
	if err := f.graph.MarkRead(context.Background(), mainNumber, testToken, in.ID); err != nil {
		t.Fatal(err)
	}
	if !f.sim.MarkedRead(in.ID) {
		t.Error("not marked read")
	}
}

func TestHandshake(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.sim.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := Handshake(context.Background(), nil, f.rc.srv.URL, "wrong"); err == nil {
		t.Error("handshake with a wrong verify token succeeded")
	}
}

func TestSimEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	post := func(path, body string) (int, []byte) {
		resp, err := http.Post(f.api.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := post("/_sim/send", `{"from":"16505551234","name":"Ana","type":"image","caption":"pic","media":"`+base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0jpeg"))+`"}`)
	var res SendResult
	if err := json.Unmarshal(b, &res); code != 200 || err != nil || res.ID == "" || res.MediaID == "" || res.Status != 200 {
		t.Fatalf("/_sim/send = %d %s", code, b)
	}
	if code, b := post("/_sim/send", `{"type":"text","text":"no sender"}`); code != 400 {
		t.Errorf("/_sim/send without a sender = %d %s", code, b)
	}
	if code, _ := post("/_sim/fail", `{"code":130429,"count":1}`); code != 200 {
		t.Fatal("/_sim/fail")
	}
	if _, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, text("x")); !throttled(err) {
		t.Errorf("forced failure = %v", err)
	}
	wamid, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, text("hello"))
	if err != nil {
		t.Fatal(err)
	}
	f.sim.Wait()
	if code, b := post("/_sim/status", `{"id":"`+wamid+`","status":"read"}`); code != 200 {
		t.Errorf("/_sim/status = %d %s", code, b)
	}
	resp, err := http.Get(f.api.URL + "/_sim/outbox?to=16505551234")
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Messages []SentMessage }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if len(out.Messages) != 1 || out.Messages[0].Text != "hello" || strings.Join(out.Messages[0].Statuses, ",") != "sent,delivered,read,read" {
		t.Errorf("outbox = %+v", out.Messages)
	}
}

func TestMetaJSON(t *testing.T) {
	got, err := MetaJSON(map[string]string{"t": "a/b café 👋 <x>"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"t":"a\/b caf\u00e9 \ud83d\udc4b \u003cx\u003e"}`
	if string(got) != want {
		t.Errorf("MetaJSON = %s, want %s", got, want)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["t"] != "a/b café 👋 <x>" {
		t.Errorf("does not decode back: %v %q", err, back["t"])
	}
}

func TestBSUIDAndPhone(t *testing.T) {
	if a, b := BSUID("waba", "16505551234"), BSUID("waba", "16505551234"); a != b || !strings.HasPrefix(a, "US.") || len(a) != 23 {
		t.Errorf("BSUID = %q, %q", a, b)
	}
	if a := BSUID("waba", "34600111222"); !strings.HasPrefix(a, "ES.") {
		t.Errorf("Spanish number BSUID = %q", a)
	}
	if BSUID("waba-1", "16505551234") == BSUID("waba-2", "16505551234") {
		t.Error("a BSUID is scoped to the business")
	}
	for in, want := range map[string]string{"+1 (650) 555-1234": "16505551234", "34 600.111.222": "34600111222", "US.123": "US.123"} {
		if got := NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// Meta echoes a send's biz_opaque_callback_data in every status of the
// message, the ones it posts by itself and the ones a test asks for.
func TestStatusesEchoCallbackData(t *testing.T) {
	f := newFixture(t, nil)
	f.customerWrites(t, Inbound{Text: "hi"})
	m := text("x")
	m.BizOpaqueCallbackData = "order-4711"
	wamid, err := f.graph.SendMessage(context.Background(), mainNumber, testToken, m)
	if err != nil {
		t.Fatal(err)
	}
	f.sim.Wait()
	if err := f.sim.PostStatus(context.Background(), wamid, "read"); err != nil {
		t.Fatal(err)
	}
	sts := f.rc.statuses()
	if len(sts) != 4 {
		t.Fatalf("%d statuses, want sent, delivered, read and the one asked for", len(sts))
	}
	for _, s := range sts {
		if s.BizOpaqueCallbackData != "order-4711" {
			t.Errorf("status %s: biz_opaque_callback_data %q, want order-4711", s.Status, s.BizOpaqueCallbackData)
		}
	}
}

// throttled says whether err is WhatsApp's rate limit (a forced 130429).
func throttled(err error) bool {
	f, _ := whatsapp.Classify(err)
	return f == whatsapp.Throttled
}
