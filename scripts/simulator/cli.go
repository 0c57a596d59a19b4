package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

const usage = `usage: simulator <command> [flags]

commands:
  send       a customer sends a message (--type text|image|video|audio|document|sticker|location|
             contacts|interactive|button|reaction|order|system|unsupported|<any>)
  status     post a status webhook for a message the business sent (--id, --status)
  handshake  do Meta's GET verification against the webhook
  post       sign a body from a file and post it to the webhook exactly as Meta would (--file),
             e.g. the bad-input samples under events/whatsapp/badinput
  outbox     print what the business sent to a customer (--to)
  fail       make the simulator fail the next sends with a Graph error (--code, --count)
  numbers    list the WhatsApp Business Accounts and numbers the simulator plays
  signup     a business completes Embedded Signup for a WABA (--waba-id): prints the code
             for POST /v1/integrations/connect
  script     replay a JSON list of actions from a file
  watch      print a CRM user's live events from the WebSocket (--as user|admin, --count)
  serve      run a standalone Graph API stand-in

Settings come from .wacrm/stack.json unless --stack, --webhook, --simulator,
--app-secret, --verify-token or --phone-number-id override them.
Run "simulator <command> -h" for a command's flags.
`

// Stack is the part of .wacrm/stack.json the simulator reads.
type Stack struct {
	WebhookURL    string            `json:"webhookURL"`
	APIURL        string            `json:"apiURL"`
	VerifyToken   string            `json:"verifyToken"`
	AppSecret     string            `json:"appSecret"`
	PhoneNumberID string            `json:"phoneNumberId"`
	SimulatorURL  string            `json:"simulatorURL"`
	WebSocketURL  string            `json:"webSocketURL"`
	Tokens        map[string]string `json:"tokens"`
}

// env is what every command works with: the settings and where to print.
type env struct {
	stack  Stack
	out    io.Writer
	client *http.Client
	last   string // wamid of the last message a script sent
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	commands := map[string]func(context.Context, *env, []string, io.Writer) error{
		"send": cmdSend, "status": cmdStatus, "handshake": cmdHandshake, "outbox": cmdOutbox,
		"fail": cmdFail, "script": cmdScript, "serve": cmdServe, "numbers": cmdNumbers, "signup": cmdSignup,
		"post": cmdPost, "watch": cmdWatch,
	}
	fn, ok := commands[cmd]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	e := &env{out: stdout, client: &http.Client{Timeout: 60 * time.Second}}
	if err := fn(ctx, e, rest, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

// commonFlags registers the settings overrides on fs; call resolve after parsing.
type commonFlags struct {
	stackPath, webhook, simulator, appSecret, verifyToken, phoneNumberID string
}

// newFlags returns a command's flag set with the common flags registered.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := &commonFlags{}
	cf.register(fs)
	return fs, cf
}

// parse parses a command's arguments and resolves the common flags into e.
func (c *commonFlags) parse(fs *flag.FlagSet, args []string, e *env) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return c.resolve(e)
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.stackPath, "stack", "", "path of stack.json (default: .wacrm/stack.json here or above)")
	fs.StringVar(&c.webhook, "webhook", "", "webhook URL (overrides webhookURL)")
	fs.StringVar(&c.simulator, "simulator", "", "embedded simulator URL (overrides simulatorURL)")
	fs.StringVar(&c.appSecret, "app-secret", "", "app secret that signs webhooks (overrides appSecret)")
	fs.StringVar(&c.verifyToken, "verify-token", "", "webhook verify token (overrides verifyToken)")
	fs.StringVar(&c.phoneNumberID, "phone-number-id", "", "business phone number id (overrides phoneNumberId)")
}

func (c *commonFlags) resolve(e *env) error {
	st, err := loadStack(c.stackPath)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&st.WebhookURL, c.webhook}, {&st.SimulatorURL, c.simulator}, {&st.AppSecret, c.appSecret},
		{&st.VerifyToken, c.verifyToken}, {&st.PhoneNumberID, c.phoneNumberID},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	e.stack = st
	return nil
}

// loadStack reads path, or finds .wacrm/stack.json from the working
// directory upwards. A missing default file is not an error: flags may say all.
func loadStack(path string) (Stack, error) {
	var st Stack
	explicit := path != ""
	if !explicit {
		path = os.Getenv("WACRM_STACK")
		explicit = path != ""
	}
	if !explicit {
		dir, err := os.Getwd()
		if err != nil {
			return st, err
		}
		for {
			candidate := filepath.Join(dir, ".wacrm", "stack.json")
			if _, err := os.Stat(candidate); err == nil {
				path = candidate
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return st, nil
			}
			dir = parent
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("read stack settings: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, nil
}

// sendFlags maps the send command's flags onto a metasim.Inbound.
type sendFlags struct {
	in                metasim.Inbound
	file, raw         string
	ago               time.Duration
	quantity          int
	price             float64
	product, currency string
}

func (s *sendFlags) register(fs *flag.FlagSet) {
	in := &s.in
	fs.StringVar(&in.From, "from", "", "customer's phone number (wa_id)")
	fs.StringVar(&in.UserID, "user-id", "", "customer's business-scoped user id (alone: a username-only customer)")
	fs.StringVar(&in.Name, "name", "", "customer's profile name")
	fs.StringVar(&in.Username, "username", "", "customer's username")
	fs.StringVar(&in.Type, "type", "text", "message type")
	fs.StringVar(&in.ID, "id", "", "wamid to use (default: a new one)")
	fs.StringVar(&in.ReplyTo, "reply-to", "", "wamid the message replies to")
	fs.StringVar(&in.Text, "text", "", "text body (text), button text (button), body (system), order note (order)")
	fs.StringVar(&in.Caption, "caption", "", "media caption (image, video, document)")
	fs.StringVar(&s.file, "file", "", "media file to send (image, video, audio, document, sticker)")
	fs.StringVar(&in.Filename, "filename", "", "document file name (default: the --file name)")
	fs.StringVar(&in.MimeType, "mime", "", "media MIME type (default: from the file extension)")
	fs.BoolVar(&in.Voice, "voice", false, "audio is a voice note")
	fs.BoolVar(&in.Animated, "animated", false, "sticker is animated")
	fs.Float64Var(&in.Latitude, "lat", 0, "location latitude")
	fs.Float64Var(&in.Longitude, "lng", 0, "location longitude")
	fs.StringVar(&in.LocationName, "location-name", "", "location name")
	fs.StringVar(&in.Address, "address", "", "location address")
	fs.StringVar(&in.ContactName, "contact-name", "", "shared contact's name (contacts)")
	fs.StringVar(&in.ContactPhone, "contact-phone", "", "shared contact's phone (contacts)")
	fs.StringVar(&in.ButtonID, "button-id", "", "reply button id (interactive)")
	fs.StringVar(&in.ButtonTitle, "button-title", "", "reply button title (interactive)")
	fs.StringVar(&in.ListID, "list-id", "", "list row id (interactive)")
	fs.StringVar(&in.ListTitle, "list-title", "", "list row title (interactive)")
	fs.StringVar(&in.ListDescription, "list-description", "", "list row description (interactive)")
	fs.StringVar(&in.Payload, "payload", "", "template quick-reply payload (button)")
	fs.StringVar(&in.Emoji, "emoji", "", "reaction emoji (empty removes the reaction)")
	fs.StringVar(&in.ReactTo, "react-to", "", "wamid the reaction is for")
	fs.StringVar(&in.CatalogID, "catalog-id", "", "catalog id (order)")
	fs.StringVar(&s.product, "product", "", "product retailer id (order)")
	fs.IntVar(&s.quantity, "quantity", 1, "product quantity (order)")
	fs.Float64Var(&s.price, "price", 0, "item price (order)")
	fs.StringVar(&s.currency, "currency", "USD", "currency (order)")
	fs.StringVar(&in.NewWaID, "new-wa-id", "", "customer's new number (system)")
	fs.StringVar(&in.UnsupportedType, "unsupported-type", "", "what Meta could not pass on (unsupported)")
	fs.StringVar(&s.raw, "raw", "", "JSON object under the type's key, for other types")
	fs.DurationVar(&s.ago, "ago", 0, "the customer wrote this long ago (e.g. 25h: outside the window)")
}

// inbound finishes the Inbound from the flags that need work (file, raw, order, ago).
func (s *sendFlags) inbound(now time.Time) (metasim.Inbound, error) {
	in := s.in
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			return in, fmt.Errorf("read --file: %w", err)
		}
		in.Media = b
		if in.MimeType == "" {
			in.MimeType = mime.TypeByExtension(strings.ToLower(filepath.Ext(s.file)))
		}
		if in.MimeType == "" {
			in.MimeType = http.DetectContentType(b)
		}
		if in.Filename == "" && in.Type == whatsapp.TypeDocument {
			in.Filename = filepath.Base(s.file)
		}
	}
	if s.raw != "" {
		if !json.Valid([]byte(s.raw)) {
			return in, errors.New("--raw is not JSON")
		}
		in.Raw = json.RawMessage(s.raw)
	}
	if s.product != "" {
		in.Items = []whatsapp.ProductItem{{ProductRetailerID: s.product, Quantity: s.quantity, ItemPrice: s.price, Currency: s.currency}}
	}
	if s.ago > 0 {
		in.Timestamp = now.Add(-s.ago)
	}
	if in.From == "" && in.UserID == "" {
		return in, errors.New("--from or --user-id is required")
	}
	return in, nil
}

func cmdSend(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("send", stderr)
	var sf sendFlags
	sf.register(fs)
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	in, err := sf.inbound(time.Now())
	if err != nil {
		return err
	}
	return e.send(ctx, in)
}

// send delivers one customer message through the simulator when there is
// one, else straight to the webhook.
func (e *env) send(ctx context.Context, in metasim.Inbound) error {
	if in.PhoneNumberID == "" {
		in.PhoneNumberID = e.stack.PhoneNumberID
	}
	var res metasim.SendResult
	if e.stack.SimulatorURL != "" {
		if err := e.simPost(ctx, "/_sim/send", in, &res); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	} else {
		if e.stack.WebhookURL == "" || e.stack.AppSecret == "" {
			return errors.New("send: no simulatorURL, and no webhookURL and appSecret to post directly")
		}
		cfg := metasim.Config{WebhookURL: e.stack.WebhookURL, AppSecret: e.stack.AppSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if in.PhoneNumberID != "" {
			cfg.Numbers = []metasim.Number{{PhoneNumberID: in.PhoneNumberID}}
		}
		sim := metasim.New(cfg)
		defer sim.Close()
		var err error
		if res, err = sim.Send(ctx, in); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	e.last = res.ID
	fmt.Fprintf(e.out, "sent %s %s (webhook answered %d after %d attempt(s))", orDefault(in.Type, "text"), res.ID, res.Status, res.Attempts)
	if res.MediaID != "" {
		fmt.Fprintf(e.out, " media %s", res.MediaID)
	}
	fmt.Fprintln(e.out)
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// simPost POSTs v as JSON to the simulator and decodes the answer into out.
func (e *env) simPost(ctx context.Context, path string, v, out any) error {
	if e.stack.SimulatorURL == "" {
		return errors.New("no simulatorURL (run the local stack, or pass --simulator)")
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(e.stack.SimulatorURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return e.do(req, out)
}

func (e *env) do(req *http.Request, out any) error {
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func cmdStatus(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("status", stderr)
	id := fs.String("id", "", "wamid of the business's message")
	status := fs.String("status", "read", "sent, delivered, read, failed, ...")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	return e.status(ctx, *id, *status)
}

func (e *env) status(ctx context.Context, id, status string) error {
	if id == "" || status == "" {
		return errors.New("status: --id and --status are required")
	}
	if err := e.simPost(ctx, "/_sim/status", map[string]string{"id": id, "status": status}, nil); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	fmt.Fprintf(e.out, "posted %s for %s\n", status, id)
	return nil
}

func cmdHandshake(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("handshake", stderr)
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	return e.handshake(ctx)
}

func (e *env) handshake(ctx context.Context) error {
	if e.stack.WebhookURL == "" || e.stack.VerifyToken == "" {
		return errors.New("handshake: webhookURL and verifyToken are required")
	}
	if err := metasim.Handshake(ctx, e.client, e.stack.WebhookURL, e.stack.VerifyToken); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "handshake ok: %s echoed the challenge\n", e.stack.WebhookURL)
	return nil
}

func cmdPost(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("post", stderr)
	file := fs.String("file", "", "the body to post, byte for byte")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	if *file == "" || e.stack.WebhookURL == "" || e.stack.AppSecret == "" {
		return errors.New("post: --file, webhookURL and appSecret are required")
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.stack.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(e.stack.AppSecret), body))
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	resp.Body.Close()
	fmt.Fprintf(e.out, "posted %s (%d bytes): webhook answered %d\n", *file, len(body), resp.StatusCode)
	return nil
}

func cmdOutbox(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("outbox", stderr)
	to := fs.String("to", "", "customer (phone number or business-scoped user id)")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	msgs, err := e.outbox(ctx, *to)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(msgs)
	}
	if len(msgs) == 0 {
		fmt.Fprintf(e.out, "nothing sent to %s\n", *to)
	}
	for _, m := range msgs {
		what := m.Text
		switch {
		case m.Template != "":
			what = "template " + m.Template
		case m.MediaID != "" || m.Link != "":
			what = strings.TrimSpace(fmt.Sprintf("[%s %s%s] %s", m.Type, m.MediaID, m.Link, m.Text))
		}
		state := strings.Join(m.Statuses, "→")
		if m.Failed != nil {
			state += fmt.Sprintf(" (error %d)", m.Failed.Code)
		}
		fmt.Fprintf(e.out, "%s  %-8s %s  %s  [%s]\n", m.Time.Local().Format("15:04:05"), m.Type, m.ID, what, state)
	}
	return nil
}

func (e *env) outbox(ctx context.Context, to string) ([]metasim.SentMessage, error) {
	if to == "" {
		return nil, errors.New("outbox: --to is required")
	}
	if e.stack.SimulatorURL == "" {
		return nil, errors.New("outbox: no simulatorURL (run the local stack, or pass --simulator)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.stack.SimulatorURL, "/")+"/_sim/outbox?to="+url.QueryEscape(to), nil)
	if err != nil {
		return nil, err
	}
	var body struct {
		Messages []metasim.SentMessage `json:"messages"`
	}
	if err := e.do(req, &body); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return body.Messages, nil
}

func cmdFail(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("fail", stderr)
	code := fs.Int("code", whatsapp.ErrCodeThroughput, "Graph error code for the next sends")
	count := fs.Int("count", 1, "how many sends fail")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	return e.fail(ctx, *code, *count)
}

func (e *env) fail(ctx context.Context, code, count int) error {
	if err := e.simPost(ctx, "/_sim/fail", map[string]int{"code": code, "count": count}, nil); err != nil {
		return fmt.Errorf("fail: %w", err)
	}
	fmt.Fprintf(e.out, "the next %d send(s) fail with %d\n", count, code)
	return nil
}

func cmdSignup(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("signup", stderr)
	waba := fs.String("waba-id", "", "the WhatsApp Business Account the business chooses in the popup")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	if *waba == "" {
		return errors.New("signup: --waba-id is required (see: simulator numbers)")
	}
	var res struct {
		Code           string   `json:"code"`
		PhoneNumberIDs []string `json:"phoneNumberIds"`
	}
	if err := e.simPost(ctx, "/_sim/signup", map[string]string{"wabaId": *waba}, &res); err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	fmt.Fprintln(e.out, res.Code)
	fmt.Fprintf(stderr, "Embedded Signup done for WABA %s (numbers %s). As an admin, within 10 minutes:\n"+
		"  curl -s -H \"Authorization: Bearer $ADMIN\" -X POST %s/integrations/connect -d '{\"code\":\"%s\",\"wabaId\":\"%s\"}'\n",
		*waba, strings.Join(res.PhoneNumberIDs, ", "), e.stack.APIURL, res.Code, *waba)
	return nil
}

func cmdNumbers(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("numbers", stderr)
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	if e.stack.SimulatorURL == "" {
		return errors.New("numbers: no simulatorURL (run the local stack, or pass --simulator)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.stack.SimulatorURL, "/")+"/_sim/numbers", nil)
	if err != nil {
		return err
	}
	var res struct {
		WABAs []struct {
			ID, Name string
			Numbers  []struct {
				PhoneNumberID, DisplayPhoneNumber, VerifiedName, CodeVerificationStatus string
			}
		} `json:"wabas"`
	}
	if err := e.do(req, &res); err != nil {
		return fmt.Errorf("numbers: %w", err)
	}
	for _, w := range res.WABAs {
		fmt.Fprintf(e.out, "WABA %s %q\n", w.ID, w.Name)
		for _, n := range w.Numbers {
			fmt.Fprintf(e.out, "  %s  +%s  %s\n", n.PhoneNumberID, n.DisplayPhoneNumber, n.CodeVerificationStatus)
		}
	}
	fmt.Fprintln(stderr, "A customer writes to one of them with: simulator send --phone-number-id ID ...")
	return nil
}

// action is one step of a script: "cmd" names it, the other fields are the
// command's. In send, "$last" stands for the wamid the script last sent and
// "$lastOutbound" for the business's latest message to that customer.
type action struct {
	Cmd string `json:"cmd"` // send, status, handshake, outbox, fail, sleep, waitOutbox
	metasim.Inbound
	File     string `json:"file,omitempty"`
	Ago      string `json:"ago,omitempty"`
	Status   string `json:"status,omitempty"`
	To       string `json:"to,omitempty"`
	Code     int    `json:"code,omitempty"`
	Count    int    `json:"count,omitempty"`
	Duration string `json:"duration,omitempty"` // sleep; waitOutbox timeout
}

func cmdScript(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("script", stderr)
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("script: want one FILE")
	}
	path := fs.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	var actions []action
	if err := json.Unmarshal(b, &actions); err != nil {
		return fmt.Errorf("script %s: %w", path, err)
	}
	for i, a := range actions {
		if err := e.runAction(ctx, a, filepath.Dir(path)); err != nil {
			return fmt.Errorf("script %s, action %d (%s): %w", path, i+1, a.Cmd, err)
		}
	}
	return nil
}

func (e *env) runAction(ctx context.Context, a action, dir string) error {
	switch a.Cmd {
	case "send":
		in := a.Inbound
		if a.File != "" {
			sf := sendFlags{in: in, file: a.File}
			if !filepath.IsAbs(a.File) {
				sf.file = filepath.Join(dir, a.File)
			}
			var err error
			if in, err = sf.inbound(time.Now()); err != nil {
				return err
			}
		}
		if a.Ago != "" {
			d, err := time.ParseDuration(a.Ago)
			if err != nil {
				return fmt.Errorf("ago: %w", err)
			}
			in.Timestamp = time.Now().Add(-d)
		}
		for _, ref := range []*string{&in.ReplyTo, &in.ReactTo} {
			switch *ref {
			case "$last":
				*ref = e.last
			case "$lastOutbound":
				msgs, err := e.outbox(ctx, orDefault(in.From, in.UserID))
				if err != nil {
					return err
				}
				if len(msgs) == 0 {
					return errors.New("$lastOutbound: the business sent nothing yet")
				}
				*ref = msgs[len(msgs)-1].ID
			}
		}
		return e.send(ctx, in)
	case "status":
		id := a.ID
		if id == "$last" {
			id = e.last
		}
		return e.status(ctx, id, a.Status)
	case "handshake":
		return e.handshake(ctx)
	case "outbox":
		msgs, err := e.outbox(ctx, a.To)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%d message(s) sent to %s\n", len(msgs), a.To)
		return nil
	case "waitOutbox":
		timeout, err := parseDurationOr(a.Duration, 10*time.Second)
		if err != nil {
			return err
		}
		want := max(a.Count, 1)
		deadline := time.Now().Add(timeout)
		for {
			msgs, err := e.outbox(ctx, a.To)
			if err != nil {
				return err
			}
			if len(msgs) >= want {
				fmt.Fprintf(e.out, "%s received %d message(s)\n", a.To, len(msgs))
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("waitOutbox: %d message(s) to %s after %s, want %d", len(msgs), a.To, timeout, want)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	case "fail":
		return e.fail(ctx, a.Code, max(a.Count, 1))
	case "sleep":
		d, err := parseDurationOr(a.Duration, time.Second)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	return fmt.Errorf("unknown action %q", a.Cmd)
}

func parseDurationOr(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

func cmdServe(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	token := fs.String("token", metasim.DefaultAccessToken, "access token the Graph API accepts for the phone number")
	display := fs.String("display-phone", metasim.DefaultDisplayPhoneNumber, "business display phone number")
	waba := fs.String("waba-id", metasim.DefaultWABAID, "WhatsApp Business Account id")
	publicURL := fs.String("public-url", "", "URL clients reach this server at (default http://<addr>)")
	statuses := fs.String("statuses", "sent,delivered,read", "statuses posted after each send (empty: none)")
	delay := fs.Duration("status-delay", 500*time.Millisecond, "delay before each status")
	failedStatus := fs.Bool("window-failed-status", false, "report a closed window as a failed status instead of a 131047 answer")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	pnid := orDefault(e.stack.PhoneNumberID, metasim.DefaultPhoneNumberID)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	base := *publicURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	sts := []string{}
	for _, s := range strings.Split(*statuses, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sts = append(sts, s)
		}
	}
	sim := metasim.New(metasim.Config{
		WebhookURL: e.stack.WebhookURL, AppSecret: e.stack.AppSecret, VerifyToken: e.stack.VerifyToken,
		Numbers:  []metasim.Number{{PhoneNumberID: pnid, DisplayPhoneNumber: *display, WABAID: *waba, AccessTokens: []string{*token}}},
		Statuses: sts, StatusDelay: *delay, WindowClosedAsFailedStatus: *failedStatus, PublicURL: base,
	})
	defer sim.Close()
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.out, "simulator listening on %s\n  Graph API base URL: %s/v23.0 (phone number id %s, token %s)\n  webhook: %s\n",
		base, base, pnid, *token, orDefault(e.stack.WebhookURL, "(none: set --webhook)"))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
