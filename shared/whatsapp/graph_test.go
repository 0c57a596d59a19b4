package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// recorded is one request as the test server saw it.
type recorded struct {
	method, path, auth, contentType string
	body                            []byte
}

// graphStub answers every request with status and body and records it.
func graphStub(t *testing.T, status int, body string) (*GraphClient, *[]recorded) {
	t.Helper()
	var got []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return &GraphClient{BaseURL: srv.URL + "/v23.0", HTTP: srv.Client()}, &got
}

const sendOK = `{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}`

func TestSendMessageRequestShape(t *testing.T) {
	tests := []struct {
		name string
		msg  OutboundMessage
		want string // the exact JSON body Meta documents
	}{
		{
			name: "text reply with preview",
			msg:  OutboundMessage{To: "16505551234", Type: "text", Text: &OutText{Body: "Hola 👋 https://example.com", PreviewURL: true}, Context: &OutContext{MessageID: "wamid.IN"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"body":"Hola 👋 https://example.com","preview_url":true},"context":{"message_id":"wamid.IN"}}`,
		},
		{
			name: "text to a username-only user (BSUID as recipient)",
			msg:  OutboundMessage{ToUserID: "BR.61922874001355608821", Type: "text", Text: &OutText{Body: "oi"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"BR.61922874001355608821","type":"text","text":{"body":"oi"}}`,
		},
		{
			name: "image by id with caption",
			msg:  OutboundMessage{To: "16505551234", Type: "image", Image: &OutMedia{ID: "1003383421387256", Caption: "Your receipt"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"image","image":{"id":"1003383421387256","caption":"Your receipt"}}`,
		},
		{
			name: "document by link with filename",
			msg:  OutboundMessage{To: "16505551234", Type: "document", Document: &OutMedia{Link: "https://example.com/q.pdf", Filename: "quote.pdf"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"document","document":{"link":"https://example.com/q.pdf","filename":"quote.pdf"}}`,
		},
		{
			name: "template with a body parameter",
			msg: OutboundMessage{To: "16505551234", Type: "template", Template: &OutTemplate{Name: "order_update", Language: TemplateLanguage{Code: "es"},
				Components: []TemplateComponent{{Type: "body", Parameters: []TemplateParameter{{Type: "text", Text: "4711"}}}}}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template","template":{"name":"order_update","language":{"code":"es"},"components":[{"type":"body","parameters":[{"type":"text","text":"4711"}]}]}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, got := graphStub(t, http.StatusOK, sendOK)
			wamid, err := c.SendMessage(context.Background(), "106540352242922", "tok-1", tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if wamid != "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA" {
				t.Errorf("wamid = %q", wamid)
			}
			if len(*got) != 1 {
				t.Fatalf("%d requests, want 1", len(*got))
			}
			r := (*got)[0]
			if r.method != "POST" || r.path != "/v23.0/106540352242922/messages" || r.auth != "Bearer tok-1" || r.contentType != "application/json" {
				t.Errorf("request = %s %s auth %q type %q", r.method, r.path, r.auth, r.contentType)
			}
			assertJSONEqual(t, r.body, tc.want)
		})
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestSendMessageValidation(t *testing.T) {
	tests := []struct {
		name string
		msg  OutboundMessage
	}{
		{"no recipient", OutboundMessage{Type: "text", Text: &OutText{Body: "x"}}},
		{"no type", OutboundMessage{To: "1", Text: &OutText{Body: "x"}}},
		{"unknown type", OutboundMessage{To: "1", Type: "hologram"}},
		{"type without part", OutboundMessage{To: "1", Type: "image"}},
		{"two parts", OutboundMessage{To: "1", Type: "text", Text: &OutText{Body: "x"}, Image: &OutMedia{ID: "1"}}},
		{"blank text", OutboundMessage{To: "1", Type: "text", Text: &OutText{Body: "  "}}},
		{"media with id and link", OutboundMessage{To: "1", Type: "image", Image: &OutMedia{ID: "1", Link: "https://x"}}},
		{"media with neither", OutboundMessage{To: "1", Type: "audio", Audio: &OutMedia{}}},
		{"template without language", OutboundMessage{To: "1", Type: "template", Template: &OutTemplate{Name: "t"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, got := graphStub(t, http.StatusOK, sendOK)
			if _, err := c.SendMessage(context.Background(), "1", "tok", tc.msg); err == nil {
				t.Fatal("SendMessage = nil error")
			}
			if len(*got) != 0 {
				t.Errorf("an invalid message reached the API")
			}
		})
	}
}

func TestGraphErrorMapping(t *testing.T) {
	metaErr := func(code int, msg string) string {
		return `{"error":{"message":"` + msg + `","type":"OAuthException","code":` + itoa(code) +
			`,"error_data":{"messaging_product":"whatsapp","details":"details of ` + itoa(code) + `"},"error_subcode":2494055,"fbtrace_id":"AbCdEf"}}`
	}
	tests := []struct {
		name         string
		status       int
		body         string
		code         int
		retryable    bool
		windowClosed bool
	}{
		{"throughput", 400, metaErr(130429, "(#130429) Rate limit hit"), 130429, true, false},
		{"pair rate limit", 400, metaErr(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"), 131056, true, false},
		{"something went wrong", 500, metaErr(131000, "Something went wrong"), 131000, true, false},
		{"service unavailable", 503, metaErr(131016, "Service unavailable"), 131016, true, false},
		{"app rate limit", 429, metaErr(4, "(#4) Application request limit reached"), 4, true, false},
		{"waba rate limit", 400, metaErr(80007, "(#80007) Rate limit issues"), 80007, true, false},
		{"api service", 500, metaErr(2, "Service temporarily unavailable"), 2, true, false},
		{"maintenance", 400, metaErr(131057, "Account in maintenance mode"), 131057, true, false},
		{"window closed", 400, metaErr(131047, "(#131047) Re-engagement message"), 131047, false, true},
		{"undeliverable", 400, metaErr(131026, "Message undeliverable"), 131026, false, false},
		{"invalid parameter", 400, metaErr(100, "(#100) Invalid parameter"), 100, false, false},
		{"bad token", 401, metaErr(190, "Invalid OAuth access token - Cannot parse access token"), 190, false, false},
		{"permission", 403, metaErr(200, "(#200) You do not have permission"), 200, false, false},
		{"spam rate limit", 400, metaErr(131048, "Spam rate limit hit"), 131048, false, false},
		{"definite code beats a 5xx", 500, metaErr(131026, "Message undeliverable"), 131026, false, false},
		{"unknown code on 5xx", 502, metaErr(999999, "?"), 999999, true, false},
		{"unknown code on 4xx", 400, metaErr(999999, "?"), 999999, false, false},
		{"html gateway error", 502, `<html>Bad Gateway</html>`, 0, true, false},
		{"empty 429", 429, ``, 0, true, false},
		{"empty 400", 400, ``, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := graphStub(t, tc.status, tc.body)
			_, err := c.SendMessage(context.Background(), "1", "tok", OutboundMessage{To: "1", Type: "text", Text: &OutText{Body: "x"}})
			ge, ok := AsGraphError(err)
			if !ok {
				t.Fatalf("err = %v, want a *GraphError", err)
			}
			if ge.Status != tc.status || ge.Code != tc.code || ge.Retryable() != tc.retryable || IsWindowClosed(err) != tc.windowClosed {
				t.Errorf("got status %d code %d retryable %v windowClosed %v; want %d %d %v %v",
					ge.Status, ge.Code, ge.Retryable(), IsWindowClosed(err), tc.status, tc.code, tc.retryable, tc.windowClosed)
			}
			if tc.code != 0 && tc.code != 999999 && (ge.Subcode != 2494055 || ge.FBTraceID != "AbCdEf" || ge.Details != "details of "+itoa(tc.code) || ge.Type != "OAuthException") {
				t.Errorf("fields not parsed: %+v", ge)
			}
			if !strings.Contains(err.Error(), "http "+itoa(tc.status)) {
				t.Errorf("Error() = %q lacks the status", err.Error())
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestNetworkErrorIsNotAGraphError(t *testing.T) {
	c := &GraphClient{BaseURL: "http://127.0.0.1:1/v23.0"}
	_, err := c.SendMessage(context.Background(), "1", "tok", OutboundMessage{To: "1", Type: "text", Text: &OutText{Body: "x"}})
	if err == nil {
		t.Fatal("want an error")
	}
	if _, ok := AsGraphError(err); ok {
		t.Errorf("a connection error is not a Graph error: %v", err)
	}
	if f, ge := Classify(err); f != NoAnswer || ge != nil {
		t.Errorf("Classify(connection error) = %v %v, want NoAnswer", f, ge)
	}
}

func TestSendMessageNoID(t *testing.T) {
	c, _ := graphStub(t, http.StatusOK, `{"messaging_product":"whatsapp","contacts":[],"messages":[]}`)
	if _, err := c.SendMessage(context.Background(), "1", "tok", OutboundMessage{To: "1", Type: "text", Text: &OutText{Body: "x"}}); err == nil {
		t.Fatal("want an error for a response without a message id")
	}
}

func TestMarkRead(t *testing.T) {
	c, got := graphStub(t, http.StatusOK, `{"success":true}`)
	if err := c.MarkRead(context.Background(), "106540352242922", "tok", "wamid.IN"); err != nil {
		t.Fatal(err)
	}
	r := (*got)[0]
	if r.path != "/v23.0/106540352242922/messages" || r.auth != "Bearer tok" {
		t.Errorf("request %s %s", r.path, r.auth)
	}
	assertJSONEqual(t, r.body, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN"}`)
}

func TestUploadMedia(t *testing.T) {
	c, got := graphStub(t, http.StatusOK, `{"id":"1037543291543636"}`)
	file := []byte("%PDF-1.4 quote")
	id, err := c.UploadMedia(context.Background(), "106540352242922", "tok", `quote "v2".pdf`, "application/pdf", file)
	if err != nil || id != "1037543291543636" {
		t.Fatalf("UploadMedia = %q, %v", id, err)
	}
	r := (*got)[0]
	if r.method != "POST" || r.path != "/v23.0/106540352242922/media" || r.auth != "Bearer tok" {
		t.Errorf("request = %s %s %s", r.method, r.path, r.auth)
	}
	mediaType, params, err := mime.ParseMediaType(r.contentType)
	if err != nil || mediaType != "multipart/form-data" {
		t.Fatalf("content type %q", r.contentType)
	}
	form, err := multipart.NewReader(strings.NewReader(string(r.body)), params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if form.Value["messaging_product"][0] != "whatsapp" || form.Value["type"][0] != "application/pdf" {
		t.Errorf("fields = %v", form.Value)
	}
	fh := form.File["file"][0]
	f, _ := fh.Open()
	b, _ := io.ReadAll(f)
	if string(b) != string(file) || fh.Filename != `quote "v2".pdf` || fh.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("file part = %q %q %q", fh.Filename, fh.Header.Get("Content-Type"), b)
	}
}

func TestMediaURL(t *testing.T) {
	for _, size := range []string{`303833`, `"303833"`} {
		c, got := graphStub(t, http.StatusOK, `{"messaging_product":"whatsapp","url":"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1","mime_type":"image/jpeg","sha256":"abc","file_size":`+size+`,"id":"1003383421387256"}`)
		u, mimeType, n, err := c.MediaURL(context.Background(), "1003383421387256", "tok")
		if err != nil || u != "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1" || mimeType != "image/jpeg" || n != 303833 {
			t.Errorf("file_size %s: MediaURL = %q %q %d %v", size, u, mimeType, n, err)
		}
		if r := (*got)[0]; r.method != "GET" || r.path != "/v23.0/1003383421387256" || r.auth != "Bearer tok" {
			t.Errorf("request = %s %s %s", r.method, r.path, r.auth)
		}
	}
	c, _ := graphStub(t, http.StatusBadRequest, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
	if _, _, _, err := c.MediaURL(context.Background(), "404", "tok"); !errors.As(err, new(*GraphError)) {
		t.Errorf("MediaURL error = %v", err)
	}
}

func TestDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"bad token","type":"OAuthException","code":190}}`)
			return
		}
		if r.Header.Get("User-Agent") == "" {
			t.Error("download without a User-Agent")
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write([]byte{0xff, 0xd8, 0xff, 0xe0})
	}))
	defer srv.Close()
	c := &GraphClient{HTTP: srv.Client()}
	b, err := c.Download(context.Background(), srv.URL+"/attachments/?mid=1", "tok")
	if err != nil || len(b) != 4 {
		t.Fatalf("Download = %v, %v", b, err)
	}
	_, err = c.Download(context.Background(), srv.URL+"/attachments/?mid=1", "wrong")
	if ge, ok := AsGraphError(err); !ok || ge.Code != ErrCodeAccessToken || ge.Status != 401 {
		t.Errorf("Download with a bad token = %v", err)
	}
}

func TestGraphErrorThrottled(t *testing.T) {
	tests := []struct {
		err  GraphError
		want bool
	}{
		{GraphError{Status: 400, Code: ErrCodeThroughput}, true},
		{GraphError{Status: 400, Code: ErrCodePairRateLimit}, true},
		{GraphError{Status: 400, Code: ErrCodeAppRateLimit}, true},
		{GraphError{Status: 400, Code: ErrCodeWABARateLimit}, true},
		{GraphError{Status: 429}, true},
		{GraphError{Status: 400, Code: ErrCodeWindowClosed}, false},
		{GraphError{Status: 500, Code: 131000}, false},
		{GraphError{Status: 401, Code: 190}, false},
	}
	for _, tt := range tests {
		if got := tt.err.Throttled(); got != tt.want {
			t.Errorf("%+v.Throttled() = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// One classification of Graph failures serves the send and media paths.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		ge   *GraphError
		want Failure
	}{
		{"throughput", &GraphError{Status: 400, Code: ErrCodeThroughput}, Throttled},
		{"pair rate", &GraphError{Status: 400, Code: ErrCodePairRateLimit}, Throttled},
		{"app rate", &GraphError{Status: 400, Code: ErrCodeAppRateLimit}, Throttled},
		{"bare 429", &GraphError{Status: 429}, Throttled},
		{"service unavailable", &GraphError{Status: 503, Code: ErrCodeServiceUnavailable}, Transient},
		{"bare 500", &GraphError{Status: 500}, Transient},
		{"token expired", &GraphError{Status: 400, Code: ErrCodeAccessToken}, TokenRefused},
		{"bare 401", &GraphError{Status: 401}, TokenRefused},
		{"window closed", &GraphError{Status: 400, Code: ErrCodeWindowClosed}, Refused},
		{"undeliverable", &GraphError{Status: 400, Code: ErrCodeUndeliverable}, Refused},
		{"not found", &GraphError{Status: 404, Code: ErrCodeInvalidParameter}, Refused},
	} {
		f, ge := Classify(fmt.Errorf("wrapped: %w", tc.ge))
		if f != tc.want || ge != tc.ge {
			t.Errorf("%s: Classify = %v %v, want %v", tc.name, f, ge, tc.want)
		}
	}
}

func TestPlain(t *testing.T) {
	for _, tc := range []struct {
		ge   *GraphError
		want string
	}{
		{&GraphError{Message: "(#131047) Re-engagement message"}, "Re-engagement message"},
		{&GraphError{Message: "(#100) Invalid parameter", Details: "Parameter 'to' is not a phone number"}, "Parameter 'to' is not a phone number"},
		{&GraphError{Message: "  plain  "}, "plain"},
		{&GraphError{Code: 42, Message: "(#42)"}, "error 42"},
	} {
		if got := tc.ge.Plain(); got != tc.want {
			t.Errorf("Plain(%+v) = %q, want %q", tc.ge, got, tc.want)
		}
	}
}
