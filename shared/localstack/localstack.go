// Package localstack runs the whole of wacrm in one process on the embedded
// adapters: a bolt file for the table, persisted in-process queues, files
// for blobs, a dev token issuer, and Meta's stand-in for the Graph API. It
// serves the same http.Handlers and runs the same services as the Lambdas.
package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/filesecrets"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/local/timer"
	"github.com/wacrm/wacrm/shared/local/wshub"
	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/payments/localpay"
	"github.com/wacrm/wacrm/shared/payments/stripepay"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Config is the local stack's config file (scripts/localstack/demo.json).
type Config struct {
	// Addr is the listen address; default 127.0.0.1:8080. Without a host
	// (":9090") it listens on loopback; 0.0.0.0:9090 listens everywhere.
	Addr        string      `json:"addr"`
	DataDir     string      `json:"dataDir"` // where state lives; default .wacrm
	AppSecret   string      `json:"appSecret"`
	VerifyToken string      `json:"verifyToken"`
	Org         string      `json:"org"`
	Users       []User      `json:"users"`
	Integration Integration `json:"integration"`
	// CORSOrigins may call the API from a browser: exact origins or "*"
	// (the default, as the CDK stack's corsOrigins).
	CORSOrigins []string `json:"corsOrigins,omitempty"`
	// WABAs are the WhatsApp Business Accounts the simulator hosts, whose
	// numbers an admin can connect (Embedded Signup or a token). The
	// seeded integration's number is added when no WABA lists it.
	WABAs []WABA `json:"wabas,omitempty"`
	// MetaAppID is the Meta app Embedded Signup runs for; the simulator
	// accepts it with appSecret in the code exchange.
	MetaAppID string `json:"metaAppId,omitempty"`

	// Now is the stack's clock (tests move it past the 24-hour window);
	// time.Now when nil.
	Now func() time.Time `json:"-"`
}

// User is a seeded CRM user; the first admin and first non-admin get tokens.
type User struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	Roles  []string `json:"roles,omitempty"`
}

// Integration is the seeded WhatsApp profile.
type Integration struct {
	ID            string                  `json:"id"`
	Nickname      string                  `json:"nickname"`
	PhoneNumberID string                  `json:"phoneNumberId"`
	WABAID        string                  `json:"wabaId"`
	DisplayPhone  string                  `json:"displayPhone"`
	AccessToken   string                  `json:"accessToken"`
	Preferences   integration.Preferences `json:"preferences"`
}

// WABA is a WhatsApp Business Account of the simulator.
type WABA struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	AccessToken string   `json:"accessToken,omitempty"` // a system user token of the whole account
	Numbers     []Number `json:"numbers"`
}

// Number is one of a WABA's phone numbers.
type Number struct {
	PhoneNumberID string `json:"phoneNumberId"`
	DisplayPhone  string `json:"displayPhone"`
	AccessToken   string `json:"accessToken,omitempty"` // a token of this number only
	// CodeVerificationStatus: VERIFIED (default), NOT_VERIFIED, EXPIRED.
	CodeVerificationStatus string `json:"codeVerificationStatus,omitempty"`
}

// simWABAs is the simulator's view of cfg: its WABAs, and the seeded
// integration's number if none lists it.
func simWABAs(cfg Config) []metasim.WABA {
	var out []metasim.WABA
	seeded := cfg.Integration
	for _, w := range cfg.WABAs {
		mw := metasim.WABA{ID: w.ID, Name: w.Name}
		if w.AccessToken != "" {
			mw.AccessTokens = []string{w.AccessToken}
		}
		for _, n := range w.Numbers {
			mn := metasim.Number{PhoneNumberID: n.PhoneNumberID, DisplayPhoneNumber: metasim.NormalizePhone(n.DisplayPhone), CodeVerificationStatus: n.CodeVerificationStatus}
			if n.AccessToken != "" {
				mn.AccessTokens = []string{n.AccessToken}
			}
			if n.PhoneNumberID == seeded.PhoneNumberID && seeded.AccessToken != "" && !slices.Contains(mn.AccessTokens, seeded.AccessToken) {
				mn.AccessTokens = append(mn.AccessTokens, seeded.AccessToken)
			}
			if n.PhoneNumberID == seeded.PhoneNumberID {
				seeded.PhoneNumberID = "" // listed
			}
			mw.Numbers = append(mw.Numbers, mn)
		}
		out = append(out, mw)
	}
	if seeded.PhoneNumberID != "" {
		out = append(out, metasim.WABA{ID: seeded.WABAID, Numbers: []metasim.Number{{PhoneNumberID: seeded.PhoneNumberID,
			DisplayPhoneNumber: metasim.NormalizePhone(seeded.DisplayPhone), AccessTokens: []string{seeded.AccessToken}}}})
	}
	return out
}

// LoadConfig reads a config file.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("parse config %s: %w", path, err)
	}
	return c, nil
}

// graphVersion is the Graph API version the simulator is served under.
const graphVersion = "v23.0"

// The HTTP server's timeouts: a client that trickles its headers or body,
// or holds an idle connection, does not hold a connection forever. The
// read timeout covers a whole request body, so it leaves room for an
// attachment uploaded to /blobs/. There is no write timeout: downloads
// and long-lived responses stream.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 5 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// Info is what a client needs, printed and written to <dataDir>/stack.json.
type Info struct {
	WebhookURL    string `json:"webhookURL"`
	APIURL        string `json:"apiURL"`
	WebSocketURL  string `json:"webSocketURL"` // live events; open with a token below (simulator watch)
	SimulatorURL  string `json:"simulatorURL"`
	GraphURL      string `json:"graphURL"`
	VerifyToken   string `json:"verifyToken"`
	AppSecret     string `json:"appSecret"`
	PhoneNumberID string `json:"phoneNumberId"`
	// Numbers are every business number the simulator plays (pick one
	// with the simulator's --phone-number-id).
	Numbers []InfoNumber      `json:"numbers"`
	Org     string            `json:"org"`
	Tokens  map[string]string `json:"tokens"`
}

// InfoNumber is a business number the simulator plays.
type InfoNumber struct {
	PhoneNumberID string `json:"phoneNumberId"`
	WABAID        string `json:"wabaId"`
	DisplayPhone  string `json:"displayPhone"`
	Verified      bool   `json:"verified"`
}

// ReadInfo reads the Info a running stack wrote (<dataDir>/stack.json).
func ReadInfo(path string) (Info, error) {
	var info Info
	b, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("read the local stack's info (is make run going?): %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("parse %s: %w", path, err)
	}
	return info, nil
}

// Stack is a running local stack.
type Stack struct {
	Info   Info
	App    *app.App
	Issuer *auth.HMACIssuer
	// Sim is Meta's stand-in: the Graph API the send path calls (under
	// /graph/) and the customer's side (under /_sim/).
	Sim *metasim.Sim
	// Payments is Stripe's stand-in (test cards, signed events).
	Payments *localpay.Provider
	// Changes runs App.Consumers on the table's change log (in the bolt file).
	Changes *changes.Runner
	// Schedules is the persisted timer behind App's schedules.
	Schedules *timer.Timer
	// Hub holds the browsers' WebSockets (GET /ws) and pushes their events.
	Hub *wshub.Hub

	ln        net.Listener
	srv       *http.Server
	cancel    context.CancelFunc
	consumers sync.WaitGroup // the queue consumers, waited for before the state files close
	queues    map[string]*memqueue.Queue
	closers   []func() error
	// the timer and the change consumers, waited for like the queue consumers
	background sync.WaitGroup
	done       chan struct{}
}

// Start opens (or creates) the state under cfg.DataDir, seeds the demo org,
// starts the consumers and serves HTTP. Close stops it.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (st *Stack, err error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if strings.HasPrefix(cfg.Addr, ":") {
		cfg.Addr = "127.0.0.1" + cfg.Addr
	}
	if len(cfg.CORSOrigins) == 0 {
		cfg.CORSOrigins = []string{"*"}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".wacrm"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st = &Stack{done: make(chan struct{})}
	partial := st // what is open so far, closed if a later step fails
	defer func() {
		if err != nil {
			_ = partial.Close()
		}
	}()
	st.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (is wacrm already running? pass -addr to use another): %w", cfg.Addr, err)
	}
	base := "http://" + urlHost(st.ln.Addr())

	tbl, err := boltstore.Open(filepath.Join(cfg.DataDir, "wacrm.db"))
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, tbl.Close)

	key, err := secretFile(filepath.Join(cfg.DataDir, "dev-signing-key"))
	if err != nil {
		return nil, err
	}
	blobs := fileblob.New(filepath.Join(cfg.DataDir, "blobs"), base, key)

	queues := filepath.Join(cfg.DataDir, "queues.db")
	inboundDLQ, err := memqueue.Open("inbound-dlq", memqueue.Options{Path: queues + ".inbound-dlq", Logger: log})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, inboundDLQ.Close)
	inbound, err := memqueue.Open("inbound", memqueue.Options{
		Path: queues + ".inbound", DeadLetter: inboundDLQ, VisibilityTimeout: 30 * time.Second,
		BatchSize: 10, Concurrency: 2, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, inbound.Close)
	outboundDLQ, err := memqueue.Open("outbound-dlq", memqueue.Options{Path: queues + ".outbound-dlq", Logger: log})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, outboundDLQ.Close)
	// The visibility timeout outlasts a Graph call (outbox.DefaultSendTimeout)
	// and the send attempt's lease, so a redelivery finds the attempt
	// either recorded or in doubt, never still running.
	outbound, err := memqueue.Open("outbound", memqueue.Options{
		Path: queues + ".outbound", DeadLetter: outboundDLQ, VisibilityTimeout: time.Minute,
		BatchSize: 10, Concurrency: 2, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, outbound.Close)
	mediaDLQ, err := memqueue.Open("media-dlq", memqueue.Options{Path: queues + ".media-dlq", Logger: log})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, mediaDLQ.Close)
	// A job may hold a file of up to 100 MB in memory: one job per batch,
	// two at a time. The visibility timeout outlasts the Graph client's
	// timeout, so a redelivery never races a download still running.
	mediaQueue, err := memqueue.Open("media", memqueue.Options{
		Path: queues + ".media", DeadLetter: mediaDLQ, VisibilityTimeout: time.Minute,
		BatchSize: 1, Concurrency: 2, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, mediaQueue.Close)
	scheduleDLQ, err := memqueue.Open("schedule-dlq", memqueue.Options{Path: queues + ".schedule-dlq", Logger: log})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, scheduleDLQ.Close)
	scheduleQueue, err := memqueue.Open("schedule", memqueue.Options{
		Path: queues + ".schedule", DeadLetter: scheduleDLQ, VisibilityTimeout: 30 * time.Second,
		BatchSize: 10, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, scheduleQueue.Close)
	// EventBridge Scheduler's twin: schedules persist and fire into the
	// schedule queue, also those that came due while the stack was down.
	timerOpts := timer.Options{Path: filepath.Join(cfg.DataDir, "timer.db"), Logger: log}
	if cfg.Now != nil {
		timerOpts.Now = cfg.Now
	}
	st.Schedules, err = timer.Open(scheduleQueue, timerOpts)
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, st.Schedules.Close)
	// Changes that keep failing in a consumer land here (a copy, never dropped).
	changesDLQ, err := memqueue.Open("changes-dlq", memqueue.Options{Path: queues + ".changes-dlq", Logger: log})
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, changesDLQ.Close)
	st.Changes = &changes.Runner{Stream: tbl, DeadLetter: changesDLQ, Log: log}

	// Meta's stand-in hosts the configured WABAs (the seeded number and
	// its token among them), plays Embedded Signup for the Meta app, keeps
	// its customers in the data dir, and posts status webhooks back to
	// this stack, signed with its app secret.
	st.Sim = metasim.New(metasim.Config{
		WebhookURL: base + "/webhook", AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken,
		WABAs: simWABAs(cfg), AppID: cfg.MetaAppID, StateFile: filepath.Join(cfg.DataDir, "simulator.json"),
		PublicURL: base, Now: cfg.Now, Logger: log,
	})
	st.closers = append(st.closers, func() error { st.Sim.Close(); return nil })
	graphURL := base + "/graph/" + graphVersion

	vault, err := filesecrets.New(filepath.Join(cfg.DataDir, "secrets"))
	if err != nil {
		return nil, err
	}
	// Payments: the stand-in plays Stripe's test cards and posts the signed
	// events to this stack's payment webhook, as Stripe would.
	paymentSecret, err := secretFile(filepath.Join(cfg.DataDir, "payment-webhook-secret"))
	if err != nil {
		return nil, err
	}
	payEvents := stripepay.Events{Secret: "whsec_" + hex.EncodeToString(paymentSecret)}
	st.Payments = &localpay.Provider{WebhookURL: base + "/billing/stripe/webhook", Secret: payEvents.Secret, Log: log}
	rates, err := app.LoadRates(ctx, blobs)
	if err != nil {
		return nil, err
	}
	// API Gateway WebSocket's twin; tokens are checked by the issuer set below.
	st.Hub = &wshub.Hub{Log: log}
	st.App = app.New(app.Adapters{
		Table: tbl, Blobs: blobs, Inbound: inbound, Outbound: outbound, Media: mediaQueue, Secrets: vault,
		Schedules: st.Schedules, Push: st.Hub,
		Graph:   &whatsapp.GraphClient{BaseURL: graphURL, HTTP: &http.Client{Timeout: 30 * time.Second}},
		MetaApp: integration.StaticApp{ID: or(cfg.MetaAppID, metasim.DefaultAppID), Secret: cfg.AppSecret},
		Rates:   rates, Payments: st.Payments,
		Log: log, Now: cfg.Now,
	})
	st.Issuer = &auth.HMACIssuer{Issuer: base, Audience: "wacrm-local", Key: key}

	if err := seed(ctx, st.App, vault, cfg); err != nil {
		return nil, err
	}
	st.Hub.Auth = st.Issuer
	st.Info = Info{
		WebhookURL: base + "/webhook", APIURL: base + "/v1", WebSocketURL: "ws" + strings.TrimPrefix(base, "http") + "/ws",
		SimulatorURL: base, GraphURL: graphURL,
		VerifyToken: cfg.VerifyToken, AppSecret: cfg.AppSecret, PhoneNumberID: cfg.Integration.PhoneNumberID,
		Org: cfg.Org, Tokens: map[string]string{}, Numbers: []InfoNumber{},
	}
	for _, n := range st.Sim.Numbers() {
		st.Info.Numbers = append(st.Info.Numbers, InfoNumber{PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID, DisplayPhone: n.DisplayPhoneNumber,
			Verified: n.CodeVerificationStatus == whatsapp.CodeVerified})
	}
	for _, u := range cfg.Users {
		p := auth.Principal{UserID: u.ID, Org: cfg.Org, Name: u.Name, Email: u.Email, Groups: u.Groups, Roles: u.Roles}
		role := "user"
		if p.IsAdmin() {
			role = "admin"
		}
		if _, ok := st.Info.Tokens[role]; ok {
			continue
		}
		tok, err := st.Issuer.Issue(p, 30*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("issue dev token: %w", err)
		}
		st.Info.Tokens[role] = tok
	}

	mux := http.NewServeMux()
	mux.Handle("/webhook", st.App.Webhook([]byte(cfg.AppSecret), cfg.VerifyToken))
	mux.Handle("POST /billing/stripe/webhook", st.App.PaymentWebhook(payEvents))
	api := st.App.API(st.Issuer).Handler()
	mux.Handle("/v1/", api)
	mux.Handle("GET /openapi.json", api) // as on AWS, where the gateway routes it to the api function
	mux.Handle("GET /asyncapi.json", api)
	mux.Handle("GET /ws", st.Hub)
	mux.Handle("/blobs/", blobs.Handler())
	sim := st.Sim.Handler()
	mux.Handle("/graph/", http.StripPrefix("/graph", sim))
	mux.Handle("/_sim/", sim)
	mux.Handle("/", api) // anything else: the API's JSON 404 or 405
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	st.queues = map[string]*memqueue.Queue{"inbound": inbound, "inboundDLQ": inboundDLQ,
		"outbound": outbound, "outboundDLQ": outboundDLQ, "media": mediaQueue, "mediaDLQ": mediaDLQ,
		"schedule": scheduleQueue, "scheduleDLQ": scheduleDLQ, "changesDLQ": changesDLQ}
	mux.HandleFunc("GET /debug/queues", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st.QueueStats())
	})
	mux.HandleFunc("GET /debug/schedules", func(w http.ResponseWriter, _ *http.Request) {
		pending, err := st.Schedules.Pending()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pending": pending})
	})
	mux.HandleFunc("GET /debug/queues/{queue}/dead-letters", st.deadLetters)
	mux.HandleFunc("POST /debug/queues/{queue}/redrive", st.redrive)

	runCtx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	consume := func(name string, q *memqueue.Queue, handler queue.BatchHandler) {
		st.consumers.Go(func() {
			if err := q.Start(runCtx, handler); err != nil && !errors.Is(err, context.Canceled) {
				log.Error(name+" consumer stopped", "err", err)
			}
		})
	}
	consume("inbound", inbound, st.App.InboundHandler())
	consume("outbound", outbound, st.App.OutboundHandler())
	consume("media", mediaQueue, st.App.MediaHandler())
	consume("schedule", scheduleQueue, st.App.ScheduleHandler())
	// The timer and the change consumers use the files closed by Close:
	// Close waits for them first.
	st.background.Go(func() { st.Schedules.Run(runCtx) })
	st.background.Go(func() {
		if err := st.Changes.Run(runCtx, st.App.Consumers...); err != nil {
			log.Error("change consumers stopped", "err", err)
		}
	})
	st.srv = &http.Server{
		Handler:           httpapi.CORS(cfg.CORSOrigins, mux),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
	}
	go func() {
		defer close(st.done)
		if err := st.srv.Serve(st.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()

	b, _ := json.MarshalIndent(st.Info, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "stack.json"), append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write stack.json: %w", err)
	}
	return st, nil
}

// QueueStats counts the messages of every local queue and dead-letter
// queue by state (served at GET /debug/queues).
func (st *Stack) QueueStats() map[string]memqueue.Stats {
	out := make(map[string]memqueue.Stats, len(st.queues))
	for name, q := range st.queues {
		out[name] = q.Stats()
	}
	return out
}

// Queue is the local queue of that name (as in QueueStats), or nil.
func (st *Stack) Queue(name string) *memqueue.Queue { return st.queues[name] }

// DeadLetter is a message of a dead-letter queue as GET
// /debug/queues/{queue}/dead-letters shows it.
type DeadLetter struct {
	ID           string            `json:"id"`
	Body         string            `json:"body"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	ReceiveCount int               `json:"receiveCount"`
}

// sourceQueue is the queue named in the path, which must have a
// dead-letter queue, after checking the caller is an admin: dead letters
// hold what customers wrote.
func (st *Stack) sourceQueue(w http.ResponseWriter, r *http.Request) (name string, q, dlq *memqueue.Queue, ok bool) {
	p, err := st.Issuer.Authenticate(r)
	if err != nil || !p.IsAdmin() {
		http.Error(w, "an admin token is needed (tokens.admin in stack.json)", http.StatusUnauthorized)
		return "", nil, nil, false
	}
	name = r.PathValue("queue")
	q, dlq = st.queues[name], st.queues[name+"DLQ"]
	if q == nil || dlq == nil {
		http.Error(w, fmt.Sprintf("no queue %q with a dead-letter queue (inbound, outbound, media)", name), http.StatusNotFound)
		return "", nil, nil, false
	}
	return name, q, dlq, true
}

func (st *Stack) deadLetters(w http.ResponseWriter, r *http.Request) {
	_, _, dlq, ok := st.sourceQueue(w, r)
	if !ok {
		return
	}
	out := []DeadLetter{}
	for _, m := range dlq.Peek() {
		out = append(out, DeadLetter{ID: m.ID, Body: string(m.Body), Attributes: m.Attributes, ReceiveCount: m.ReceiveCount})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (st *Stack) redrive(w http.ResponseWriter, r *http.Request) {
	_, q, _, ok := st.sourceQueue(w, r)
	if !ok {
		return
	}
	n, err := q.Redrive(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"moved": n})
}

// Close stops serving and consuming, waits for the batches under way, and
// closes the state files.
func (st *Stack) Close() error {
	var errs []error
	if st.Payments != nil {
		st.Payments.Wait() // payment events in flight reach the webhook before it goes
	}
	if st.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, st.srv.Shutdown(ctx))
		cancel()
		<-st.done
	} else if st.ln != nil {
		errs = append(errs, st.ln.Close())
	}
	if st.cancel != nil {
		st.cancel()
	}
	// Batches under way finish before the queues and the table they write
	// to are closed under them.
	st.consumers.Wait()
	st.background.Wait()
	for i := len(st.closers) - 1; i >= 0; i-- {
		errs = append(errs, st.closers[i]())
	}
	return errors.Join(errs...)
}

// seed creates the demo org's users and integration, once.
func seed(ctx context.Context, a *app.App, vault secrets.Store, cfg Config) error {
	for _, u := range cfg.Users {
		p := auth.Principal{UserID: u.ID, Org: cfg.Org, Name: u.Name, Email: u.Email, Groups: u.Groups, Roles: u.Roles}
		if err := a.Store.UpsertUser(ctx, p); err != nil {
			return fmt.Errorf("seed user %s: %w", u.ID, err)
		}
	}
	in := cfg.Integration
	if in.PhoneNumberID == "" {
		return nil
	}
	tokenRef := "tokens/" + in.ID
	if err := vault.Put(ctx, tokenRef, in.AccessToken); err != nil {
		return fmt.Errorf("seed access token: %w", err)
	}
	now := time.Now().UTC()
	err := a.Store.CreateIntegration(ctx, &integration.Integration{
		ID: in.ID, Org: cfg.Org, Nickname: in.Nickname, PhoneNumberID: in.PhoneNumberID, WABAID: in.WABAID,
		DisplayPhone: in.DisplayPhone, TokenRef: tokenRef, Preferences: in.Preferences,
		Active: true, CreatedAt: now, UpdatedAt: now,
	})
	if apperr.Is(err, apperr.Conflict) {
		return nil // seeded on an earlier run
	}
	return err
}

// urlHost is how clients reach addr: a listener on every interface is
// reached on loopback.
func urlHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// secretFile returns the 32 random bytes kept in path, making them once.
func secretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	b = make([]byte, 32)
	_, _ = rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
