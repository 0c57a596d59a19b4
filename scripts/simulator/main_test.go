package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

const (
	secret = "cli-secret"
	token  = "cli-token"
	pnid   = "106540352242922"
)

// webhook is a business webhook that checks signatures and keeps the parsed messages.
type webhook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []whatsapp.Message
	sts  []whatsapp.Status
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			c, err := whatsapp.VerifyHandshake(r.URL.Query(), "vt")
			if err != nil {
				rw.WriteHeader(http.StatusForbidden)
				return
			}
			_, _ = io.WriteString(rw, c)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := whatsapp.VerifySignature([]byte(secret), body, r.Header.Get(whatsapp.SignatureHeader)); err != nil {
			t.Errorf("signature: %v", err)
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		n, err := whatsapp.Parse(body)
		if err != nil {
			t.Errorf("parse: %v", err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				w.msgs = append(w.msgs, c.Value.Messages...)
				w.sts = append(w.sts, c.Value.Statuses...)
			}
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) messages() []whatsapp.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]whatsapp.Message(nil), w.msgs...)
}

// stack starts a simulator like the local stack embeds it and writes a stack.json for it.
func stack(t *testing.T) (*metasim.Sim, *webhook, string, *httptest.Server) {
	t.Helper()
	wh := newWebhook(t)
	sim := metasim.New(metasim.Config{
		WebhookURL: wh.srv.URL, AppSecret: secret, VerifyToken: "vt", StatusDelay: time.Millisecond, RetryBackoff: time.Millisecond,
		Numbers: []metasim.Number{{PhoneNumberID: pnid, AccessTokens: []string{token}}},
	})
	t.Cleanup(sim.Close)
	api := httptest.NewServer(sim.Handler())
	t.Cleanup(api.Close)
	dir := t.TempDir()
	st := Stack{WebhookURL: wh.srv.URL, APIURL: "http://127.0.0.1:1", VerifyToken: "vt", AppSecret: secret, PhoneNumberID: pnid, SimulatorURL: api.URL}
	b, _ := json.Marshal(st)
	path := filepath.Join(dir, "stack.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, wh, path, api
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestLoadStack(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".wacrm"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := Stack{WebhookURL: "http://127.0.0.1:8080/webhook", APIURL: "http://127.0.0.1:8080", VerifyToken: "vt", AppSecret: "s", PhoneNumberID: "1", SimulatorURL: "http://127.0.0.1:8089",
		WebSocketURL: "ws://127.0.0.1:8080/ws", Tokens: map[string]string{"user": "jwt"}}
	b, _ := json.Marshal(want)
	if err := os.WriteFile(filepath.Join(dir, ".wacrm", "stack.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	t.Setenv("WACRM_STACK", "")
	got, err := loadStack("")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("loadStack from a subdirectory = %+v, %v; want %+v", got, err, want)
	}

	// Flags override the file.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	if err := fs.Parse([]string{"--webhook", "http://other/webhook", "--app-secret", "s2", "--phone-number-id", "2"}); err != nil {
		t.Fatal(err)
	}
	var e env
	if err := cf.resolve(&e); err != nil {
		t.Fatal(err)
	}
	if e.stack.WebhookURL != "http://other/webhook" || e.stack.AppSecret != "s2" || e.stack.PhoneNumberID != "2" || e.stack.SimulatorURL != want.SimulatorURL {
		t.Errorf("resolved = %+v", e.stack)
	}

	if _, err := loadStack(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("an explicit missing file is an error")
	}
	t.Chdir(t.TempDir())
	if st, err := loadStack(""); err != nil || !reflect.DeepEqual(st, Stack{}) {
		t.Errorf("no stack.json anywhere = %+v, %v; want empty settings", st, err)
	}
}

func TestSendFlags(t *testing.T) {
	photo := filepath.Join(t.TempDir(), "receipt.jpg")
	if err := os.WriteFile(photo, []byte("\xff\xd8\xff\xe0 jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, in metasim.Inbound)
		fails bool
	}{
		{"text", []string{"--from", "15551234567", "--name", "Ana", "--text", "hola 👋"}, func(t *testing.T, in metasim.Inbound) {
			if in.Type != "text" || in.From != "15551234567" || in.Name != "Ana" || in.Text != "hola 👋" || !in.Timestamp.IsZero() {
				t.Errorf("%+v", in)
			}
		}, false},
		{"image from a file", []string{"--from", "1", "--type", "image", "--file", photo, "--caption", "receipt"}, func(t *testing.T, in metasim.Inbound) {
			if in.MimeType != "image/jpeg" || string(in.Media) != "\xff\xd8\xff\xe0 jpeg" || in.Caption != "receipt" {
				t.Errorf("%+v", in)
			}
		}, false},
		{"document takes the file name", []string{"--from", "1", "--type", "document", "--file", photo}, func(t *testing.T, in metasim.Inbound) {
			if in.Filename != "receipt.jpg" {
				t.Errorf("filename %q", in.Filename)
			}
		}, false},
		{"location", []string{"--from", "1", "--type", "location", "--lat", "40.4", "--lng", "-3.7", "--location-name", "Sol"}, func(t *testing.T, in metasim.Inbound) {
			if in.Latitude != 40.4 || in.Longitude != -3.7 || in.LocationName != "Sol" {
				t.Errorf("%+v", in)
			}
		}, false},
		{"reaction", []string{"--from", "1", "--type", "reaction", "--emoji", "👍", "--react-to", "wamid.X"}, func(t *testing.T, in metasim.Inbound) {
			if in.Emoji != "👍" || in.ReactTo != "wamid.X" {
				t.Errorf("%+v", in)
			}
		}, false},
		{"order", []string{"--from", "1", "--type", "order", "--product", "sku-1", "--quantity", "3", "--price", "9.5", "--currency", "EUR"}, func(t *testing.T, in metasim.Inbound) {
			if len(in.Items) != 1 || in.Items[0] != (whatsapp.ProductItem{ProductRetailerID: "sku-1", Quantity: 3, ItemPrice: 9.5, Currency: "EUR"}) {
				t.Errorf("%+v", in.Items)
			}
		}, false},
		{"username only, 25h ago", []string{"--user-id", "BR.1", "--text", "oi", "--ago", "25h"}, func(t *testing.T, in metasim.Inbound) {
			if in.From != "" || in.UserID != "BR.1" || !in.Timestamp.Equal(now.Add(-25*time.Hour)) {
				t.Errorf("%+v", in)
			}
		}, false},
		{"raw future type", []string{"--from", "1", "--type", "poll_vote", "--raw", `{"option":"a"}`}, func(t *testing.T, in metasim.Inbound) {
			if string(in.Raw) != `{"option":"a"}` {
				t.Errorf("%+v", in)
			}
		}, false},
		{"no sender", []string{"--text", "x"}, nil, true},
		{"bad raw", []string{"--from", "1", "--type", "x", "--raw", "{"}, nil, true},
		{"missing file", []string{"--from", "1", "--type", "image", "--file", "/nonexistent.jpg"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("send", flag.ContinueOnError)
			var sf sendFlags
			sf.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			in, err := sf.inbound(now)
			if tc.fails {
				if err == nil {
					t.Fatalf("inbound = %+v, want an error", in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in)
		})
	}
}

func TestSendThroughSimulatorAndOutbox(t *testing.T) {
	sim, wh, path, api := stack(t)
	out, err := runCLI(t, "send", "--stack", path, "--from", "15551234567", "--name", "Ana", "--text", "hola 👋")
	if err != nil || !strings.Contains(out, "sent text wamid.") || !strings.Contains(out, "answered 200") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	msgs := wh.messages()
	if len(msgs) != 1 || msgs[0].Text.Body != "hola 👋" || msgs[0].From != "15551234567" {
		t.Fatalf("webhook got %+v", msgs)
	}
	// The embedded simulator knows the customer wrote: the business may answer.
	graph := &whatsapp.GraphClient{BaseURL: api.URL + "/v23.0", HTTP: api.Client()}
	wamid, err := graph.SendMessage(context.Background(), pnid, token, whatsapp.OutboundMessage{To: "15551234567", Type: "text", Text: &whatsapp.OutText{Body: "¡Hola Ana!"}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Wait()
	out, err = runCLI(t, "outbox", "--stack", path, "--to", "+1 555 123 4567")
	if err != nil || !strings.Contains(out, wamid) || !strings.Contains(out, "¡Hola Ana!") || !strings.Contains(out, "sent→delivered→read") {
		t.Fatalf("outbox: %v\n%s", err, out)
	}
	out, err = runCLI(t, "outbox", "--stack", path, "--to", "15551234567", "--json")
	var sent []metasim.SentMessage
	if err != nil || json.Unmarshal([]byte(out), &sent) != nil || len(sent) != 1 || sent[0].ID != wamid {
		t.Fatalf("outbox --json: %v\n%s", err, out)
	}
	out, err = runCLI(t, "status", "--stack", path, "--id", wamid, "--status", "read")
	if err != nil || !strings.Contains(out, "posted read") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "status", "--stack", path, "--id", "wamid.unknown", "--status", "read"); err == nil {
		t.Error("status for an unknown wamid succeeded")
	}
	out, err = runCLI(t, "fail", "--stack", path, "--code", "130429", "--count", "1")
	if err != nil || !strings.Contains(out, "130429") {
		t.Fatalf("fail: %v\n%s", err, out)
	}
	if _, err := graph.SendMessage(context.Background(), pnid, token, whatsapp.OutboundMessage{To: "15551234567", Type: "text", Text: &whatsapp.OutText{Body: "x"}}); !throttled(err) {
		t.Errorf("after fail: %v", err)
	}
}

func TestSendDirectToWebhook(t *testing.T) {
	wh := newWebhook(t)
	photo := filepath.Join(t.TempDir(), "p.png")
	if err := os.WriteFile(photo, []byte("\x89PNG\r\n\x1a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WACRM_STACK", "")
	t.Chdir(t.TempDir())
	out, err := runCLI(t, "send", "--webhook", wh.srv.URL, "--app-secret", secret, "--phone-number-id", pnid,
		"--from", "34600111222", "--type", "image", "--file", photo)
	if err != nil || !strings.Contains(out, "media ") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	msgs := wh.messages()
	if len(msgs) != 1 || msgs[0].Image == nil || msgs[0].Image.MimeType != "image/png" {
		t.Fatalf("webhook got %+v", msgs)
	}
	if _, err := runCLI(t, "send", "--from", "1", "--text", "x"); err == nil {
		t.Error("send with no webhook and no simulator succeeded")
	}
	if _, err := runCLI(t, "outbox", "--to", "1"); err == nil {
		t.Error("outbox without a simulator succeeded")
	}
}

func TestHandshakeCommand(t *testing.T) {
	_, _, path, _ := stack(t)
	if out, err := runCLI(t, "handshake", "--stack", path); err != nil || !strings.Contains(out, "handshake ok") {
		t.Fatalf("handshake: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "handshake", "--stack", path, "--verify-token", "wrong"); err == nil {
		t.Error("handshake with a wrong token succeeded")
	}
}

func TestScript(t *testing.T) {
	sim, wh, path, api := stack(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quote.pdf"), []byte("%PDF-1.4 q"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `[
		{"cmd":"handshake"},
		{"cmd":"send","from":"15551234567","name":"Ana","text":"hola"},
		{"cmd":"send","from":"15551234567","type":"reaction","emoji":"👍","reactTo":"$last"},
		{"cmd":"send","from":"15551234567","type":"document","file":"quote.pdf","caption":"signed"},
		{"cmd":"sleep","duration":"1ms"},
		{"cmd":"outbox","to":"15551234567"}
	]`
	sp := filepath.Join(dir, "demo.json")
	if err := os.WriteFile(sp, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "script", "--stack", path, sp)
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	msgs := wh.messages()
	if len(msgs) != 3 || msgs[1].Reaction.MessageID != msgs[0].ID || msgs[2].Document.Filename != "quote.pdf" {
		t.Fatalf("webhook got %+v", msgs)
	}
	if !strings.Contains(out, "0 message(s) sent to 15551234567") {
		t.Errorf("output:\n%s", out)
	}

	// waitOutbox and $lastOutbound, once the business answered.
	graph := &whatsapp.GraphClient{BaseURL: api.URL + "/v23.0", HTTP: api.Client()}
	wamid, err := graph.SendMessage(context.Background(), pnid, token, whatsapp.OutboundMessage{To: "15551234567", Type: "text", Text: &whatsapp.OutText{Body: "gracias"}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Wait()
	script2 := `[{"cmd":"waitOutbox","to":"15551234567","count":1,"duration":"2s"},
		{"cmd":"send","from":"15551234567","type":"reaction","emoji":"❤️","reactTo":"$lastOutbound"}]`
	if err := os.WriteFile(sp, []byte(script2), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "script", "--stack", path, sp); err != nil {
		t.Fatalf("script 2: %v\n%s", err, out)
	}
	if msgs := wh.messages(); msgs[len(msgs)-1].Reaction.MessageID != wamid {
		t.Errorf("$lastOutbound reacted to %q, want %q", msgs[len(msgs)-1].Reaction.MessageID, wamid)
	}

	for name, bad := range map[string]string{"not json": `[{`, "unknown action": `[{"cmd":"dance"}]`, "bad send": `[{"cmd":"send","text":"no sender"}]`} {
		if err := os.WriteFile(sp, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := runCLI(t, "script", "--stack", path, sp); err == nil {
			t.Errorf("%s: script succeeded", name)
		}
	}
}

func TestServe(t *testing.T) {
	wh := newWebhook(t)
	t.Setenv("WACRM_STACK", "")
	if _, err := runCLI(t, "serve", "--stack", filepath.Join(t.TempDir(), "none.json"), "--addr", "127.0.0.1:0"); err == nil {
		t.Fatal("serve with a missing --stack file succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--webhook", wh.srv.URL, "--app-secret", secret,
			"--phone-number-id", pnid, "--token", token, "--status-delay", "1ms"}, pw, io.Discard)
	}()
	lines := bufio.NewReader(pr)
	line, err := lines.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, lines) }() // the banner's other lines
	base := strings.TrimSpace(strings.TrimPrefix(line, "simulator listening on "))
	// A customer writes through the standalone server, the business answers through it.
	resp, err := http.Post(base+"/_sim/send", "application/json", strings.NewReader(`{"from":"15551234567","text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/_sim/send = %d", resp.StatusCode)
	}
	graph := &whatsapp.GraphClient{BaseURL: base + "/v23.0"}
	if _, err := graph.SendMessage(context.Background(), pnid, token, whatsapp.OutboundMessage{To: "15551234567", Type: "text", Text: &whatsapp.OutText{Body: "hello"}}); err != nil {
		t.Fatal(err)
	}
	if len(wh.messages()) != 1 {
		t.Errorf("webhook got %d messages", len(wh.messages()))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve ended with %v", err)
	}
}

func TestUsage(t *testing.T) {
	if _, err := runCLI(t); err == nil {
		t.Error("no command: want an error")
	}
	if out, err := runCLI(t, "dance"); err == nil || !strings.Contains(out, "usage:") {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "send", "-h"); err != nil || !strings.Contains(out, "-from") {
		t.Errorf("send -h: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "send", "--no-such-flag"); err == nil {
		t.Error("unknown flag: want an error")
	}
}

func TestSignupAndNumbers(t *testing.T) {
	sim, _, path, api := stack(t)
	out, err := runCLI(t, "numbers", "--stack", path)
	if err != nil || !strings.Contains(out, "WABA "+metasim.DefaultWABAID) || !strings.Contains(out, pnid+"  +"+metasim.DefaultDisplayPhoneNumber+"  VERIFIED") {
		t.Fatalf("numbers: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "signup", "--stack", path); err == nil {
		t.Error("signup without --waba-id succeeded")
	}
	if _, err := runCLI(t, "signup", "--stack", path, "--waba-id", "999"); err == nil {
		t.Error("signup for an unknown WABA succeeded")
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"signup", "--stack", path, "--waba-id", metasim.DefaultWABAID}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(stdout.String())
	if !strings.Contains(stderr.String(), "/integrations/connect") {
		t.Errorf("no hint of what to do with the code: %s", stderr.String())
	}
	graph := &whatsapp.GraphClient{BaseURL: api.URL + "/v23.0"}
	tok, err := graph.ExchangeCode(context.Background(), metasim.DefaultAppID, secret, code)
	if err != nil {
		t.Fatalf("the printed code %q does not exchange: %v", code, err)
	}
	if _, err := graph.PhoneNumber(context.Background(), pnid, tok); err != nil {
		t.Errorf("the business token cannot read the WABA's number: %v", err)
	}
	_ = sim
}

// post signs a file's bytes as they are (no re-encoding) and posts them.
func TestPostCommand(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := whatsapp.VerifySignature([]byte(secret), body, r.Header.Get(whatsapp.SignatureHeader)); err != nil {
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = body
	}))
	t.Cleanup(srv.Close)
	want, err := os.ReadFile("../../events/whatsapp/badinput/invalid_utf8.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("WACRM_STACK", "")
	t.Chdir(t.TempDir())
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "post", "--webhook", srv.URL, "--app-secret", secret, "--file", path)
	if err != nil || !strings.Contains(out, "webhook answered 200") {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("posted body differs from the file")
	}
	if _, err := runCLI(t, "post", "--webhook", srv.URL, "--app-secret", secret); err == nil {
		t.Error("post without --file succeeded")
	}
}

// throttled says whether err is WhatsApp's rate limit (a forced 130429).
func throttled(err error) bool {
	f, _ := whatsapp.Classify(err)
	return f == whatsapp.Throttled
}
