// Command load drives a wacrm stack with inbound text webhooks, signed and
// posted as Meta posts them, and reports webhooks/s, the acknowledgement's
// p50/p99/max and the end-to-end latency (until each message is listed by the
// API). It first runs the same load against a floor in this process: a
// server that only checks the signature and answers 200, so figures from a
// loaded machine are read as ratios.
//
//	go run ./scripts/load                       # the local stack, from .wacrm/stack.json
//	go run ./scripts/load --count 20000 --duration 60s --concurrency 64
//	go run ./scripts/load --webhook https://.../webhook --app-secret ... \
//	    --api https://.../v1 --token <JWT> --phone-number-id ... --waba-id ...
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// target is where the load goes: the webhook, and the API that shows what
// the stack stored.
type target struct {
	WebhookURL    string `json:"webhookURL"`
	APIURL        string `json:"apiURL"`
	AppSecret     string `json:"appSecret"`
	PhoneNumberID string `json:"phoneNumberId"`
	Numbers       []struct {
		PhoneNumberID string `json:"phoneNumberId"`
		WABAID        string `json:"wabaId"`
	} `json:"numbers"`
	Tokens map[string]string `json:"tokens"`
	WABAID string            `json:"-"`
	Token  string            `json:"-"`
}

// maxCount keeps the bodies' dates (a second apart, ending now) inside the
// customer's 24-hour window.
const maxCount = 80_000

type options struct {
	count       int
	duration    time.Duration
	concurrency int
	senders     int
	settle      time.Duration
	poll        time.Duration
	noFloor     bool
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	stackFile := fs.String("stack", ".wacrm/stack.json", "the local stack's stack.json (written by make run)")
	var t target
	fs.StringVar(&t.WebhookURL, "webhook", "", "webhook URL (overrides the stack file)")
	fs.StringVar(&t.APIURL, "api", "", "API base URL ending in /v1 (overrides the stack file)")
	fs.StringVar(&t.AppSecret, "app-secret", "", "Meta app secret that signs the webhooks (overrides the stack file)")
	fs.StringVar(&t.PhoneNumberID, "phone-number-id", "", "business phone number id the customers write to (overrides the stack file)")
	fs.StringVar(&t.WABAID, "waba-id", "", "WhatsApp Business Account of that number (default: from the stack file)")
	fs.StringVar(&t.Token, "token", "", "bearer token of a user who sees the org's conversations (default: the stack file's admin token)")
	var o options
	fs.IntVar(&o.count, "count", 5000, "webhooks to post at most")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "stop posting after this long even if count is not reached")
	fs.IntVar(&o.concurrency, "concurrency", 32, "webhooks in flight at once")
	fs.IntVar(&o.senders, "senders", 20, "distinct customers writing (each run uses new ones)")
	fs.DurationVar(&o.settle, "settle", 60*time.Second, "how long to wait after the last ack for every message to be listed by the API")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "pause between the API polls that time end-to-end latency")
	fs.BoolVar(&o.noFloor, "no-floor", false, "skip the floor run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := t.fill(*stackFile); err != nil {
		return err
	}
	if o.count < 1 || o.count > maxCount || o.concurrency < 1 || o.senders < 1 || o.senders > 1000 || o.duration <= 0 {
		return fmt.Errorf("--concurrency and --duration must be positive, --count from 1 to %d, --senders from 1 to 1000", maxCount)
	}

	bodies, senders, err := buildBodies(t, o)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.concurrency, MaxIdleConnsPerHost: o.concurrency, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()

	fmt.Fprintf(out, "%d text webhooks from %d new customers to number %s at %s, %d in flight, at most %s\n\n",
		len(bodies), o.senders, t.PhoneNumberID, t.WebhookURL, o.concurrency, o.duration)
	fmt.Fprintf(out, "%-26s %8s %6s %9s %10s %9s %9s %9s\n", "", "acked", "failed", "seconds", "webhooks/s", "ack p50", "ack p99", "ack max")
	var floor *postResult
	if !o.noFloor {
		floorURL, closeFloor, err := startFloor(t.AppSecret)
		if err != nil {
			return err
		}
		floor = post(ctx, newSim(t, floorURL, client), bodies, o, nil)
		closeFloor()
		floor.print(out, "floor (HMAC + JSON scan)")
	}

	w := newWatcher(client, t, senders, o.poll)
	watchCtx, stopWatching := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- w.watch(watchCtx) }()
	res := post(ctx, newSim(t, t.WebhookURL, client), bodies, o, w.sent)
	res.print(out, "stack")
	if floor != nil && floor.rate() > 0 {
		fmt.Fprintf(out, "%-26s %8s %6s %9s %9.2fx %8.2fx %8.2fx\n", "stack / floor", "", "", "",
			res.rate()/floor.rate(), ratio(res.quantile(0.5), floor.quantile(0.5)), ratio(res.quantile(0.99), floor.quantile(0.99)))
	}

	w.waitAll(ctx, o.settle)
	stopWatching()
	if err := <-watched; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	e2e, missing := w.latencies()
	fmt.Fprintf(out, "\nend to end (ack'd webhook until listed by GET /v1/conversations/{id}/messages, polled every %s):\n", o.poll)
	fmt.Fprintf(out, "  %d of %d listed; p50 %s, p99 %s, max %s; stored %.0f messages/s\n",
		len(e2e), res.acked, ms(quantile(e2e, 0.5)), ms(quantile(e2e, 0.99)), ms(quantile(e2e, 1)), w.storedRate())
	if missing > 0 {
		return fmt.Errorf("%d acknowledged messages were not listed by the API within %s", missing, o.settle)
	}
	if res.failed > 0 {
		return fmt.Errorf("%d webhooks were not acknowledged", res.failed)
	}
	return nil
}

// fill completes t from the stack file for every setting not given as a flag.
func (t *target) fill(stackFile string) error {
	var st target
	if b, err := os.ReadFile(stackFile); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%s: %w", stackFile, err)
		}
	} else if t.WebhookURL == "" {
		return fmt.Errorf("no --webhook and no stack file: %w (start the local stack with make run, or pass a deployed stack's --webhook, --app-secret, --api, --token, --phone-number-id and --waba-id)", err)
	}
	t.WebhookURL = or(t.WebhookURL, st.WebhookURL)
	t.APIURL = strings.TrimSuffix(or(t.APIURL, st.APIURL), "/")
	t.AppSecret = or(t.AppSecret, st.AppSecret)
	t.PhoneNumberID = or(t.PhoneNumberID, st.PhoneNumberID)
	t.Token = or(t.Token, st.Tokens["admin"])
	for _, n := range st.Numbers {
		if n.PhoneNumberID == t.PhoneNumberID && t.WABAID == "" {
			t.WABAID = n.WABAID
		}
	}
	for name, v := range map[string]string{"webhook": t.WebhookURL, "api": t.APIURL, "app-secret": t.AppSecret,
		"phone-number-id": t.PhoneNumberID, "waba-id": t.WABAID, "token": t.Token} {
		if v == "" {
			return fmt.Errorf("--%s is needed (not in the stack file)", name)
		}
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// buildBodies builds the webhooks with the simulator's own builder, before
// the clock starts: each run's customers are new numbers.
func buildBodies(t target, o options) ([][]byte, []string, error) {
	sim := newSim(t, "", nil)
	defer sim.Close()
	run := time.Now().UnixMilli() % 1_000_000_000
	senders := make([]string, o.senders)
	for i := range senders {
		senders[i] = fmt.Sprintf("1%09d%03d", run, i)
	}
	// Dated a second apart in posting order, ending now, so a conversation
	// lists them in the order they were posted.
	first := time.Now().Add(-time.Duration(o.count) * time.Second)
	bodies := make([][]byte, o.count)
	for i := range bodies {
		b, _, err := sim.BuildInbound(metasim.Inbound{PhoneNumberID: t.PhoneNumberID, From: senders[i%len(senders)], Timestamp: first.Add(time.Duration(i) * time.Second),
			Name: "Load " + fmt.Sprint(i%len(senders)), Text: fmt.Sprintf("load message %d", i)})
		if err != nil {
			return nil, nil, err
		}
		bodies[i] = b
	}
	return bodies, senders, nil
}

// newSim is Meta's stand-in posting to webhookURL once per body (a load
// counts refusals rather than retrying them).
func newSim(t target, webhookURL string, client *http.Client) *metasim.Sim {
	return metasim.New(metasim.Config{WebhookURL: webhookURL, AppSecret: t.AppSecret, MaxAttempts: 1, HTTPClient: client,
		Numbers: []metasim.Number{{PhoneNumberID: t.PhoneNumberID, WABAID: t.WABAID}}, Logger: slog.New(slog.DiscardHandler)})
}

// startFloor serves the least a webhook must do on loopback: read the body,
// check its signature and that it is JSON, answer 200.
func startFloor(appSecret string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	secret := []byte(appSecret)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 3<<20))
		if err != nil || whatsapp.VerifySignature(secret, body, r.Header.Get(whatsapp.SignatureHeader)) != nil || !json.Valid(body) {
			http.Error(w, "bad webhook", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/webhook", func() { _ = srv.Close() }, nil
}

type postResult struct {
	acked, failed int
	elapsed       time.Duration
	acks          []time.Duration
}

// post sends bodies with o.concurrency workers until all are sent or
// o.duration has passed; sent, when set, hears of every acknowledged body.
func post(ctx context.Context, sim *metasim.Sim, bodies [][]byte, o options, sent func(i int, at time.Time)) *postResult {
	defer sim.Close()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	res := &postResult{acks: make([]time.Duration, 0, len(bodies))}
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				status, _, err := sim.Deliver(ctx, bodies[i])
				took := time.Since(t0)
				ok := err == nil && status == http.StatusOK
				if ok && sent != nil {
					sent(i, t0)
				}
				mu.Lock()
				if ok {
					res.acked++
					res.acks = append(res.acks, took)
				} else if ctx.Err() == nil {
					res.failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.acks)
	return res
}

func (r *postResult) rate() float64 { return float64(r.acked) / r.elapsed.Seconds() }

func (r *postResult) quantile(q float64) time.Duration { return quantile(r.acks, q) }

func (r *postResult) print(out io.Writer, name string) {
	fmt.Fprintf(out, "%-26s %8d %6d %9.2f %10.0f %9s %9s %9s\n", name, r.acked, r.failed, r.elapsed.Seconds(), r.rate(),
		ms(r.quantile(0.5)), ms(r.quantile(0.99)), ms(r.quantile(1)))
}

// quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// watcher polls the API for the run's conversations, newest messages first,
// and notes when each acknowledged message is first listed.
type watcher struct {
	client  *http.Client
	t       target
	senders map[string]bool
	order   []string // body i comes from order[i%len(order)]
	poll    time.Duration

	mu      sync.Mutex
	sentAt  map[int]time.Time
	seenAt  map[int]time.Time
	pending map[string]map[int]bool // sender -> bodies acknowledged, not yet listed
	conv    map[string]string       // customer wa_id -> conversation id
	first   time.Time
}

func newWatcher(client *http.Client, t target, senders []string, poll time.Duration) *watcher {
	w := &watcher{client: client, t: t, senders: map[string]bool{}, order: senders, poll: poll,
		sentAt: map[int]time.Time{}, seenAt: map[int]time.Time{}, pending: map[string]map[int]bool{}, conv: map[string]string{}}
	for _, s := range senders {
		w.senders[s] = true
	}
	return w
}

func (w *watcher) sent(i int, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sentAt[i] = at
	sender := w.senderOf(i)
	if w.pending[sender] == nil {
		w.pending[sender] = map[int]bool{}
	}
	w.pending[sender][i] = true
	if w.first.IsZero() || at.Before(w.first) {
		w.first = at
	}
}

func (w *watcher) unlisted() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sentAt) - len(w.seenAt)
}

func (w *watcher) watch(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := w.pollOnce(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.poll):
		}
	}
	return ctx.Err()
}

// waitAll returns once every acknowledged message has been listed, or
// settle after posting ended.
func (w *watcher) waitAll(ctx context.Context, settle time.Duration) {
	deadline := time.Now().Add(settle)
	for w.unlisted() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(w.poll)
	}
}

func (w *watcher) pollOnce(ctx context.Context) error {
	w.mu.Lock()
	known := len(w.conv)
	w.mu.Unlock()
	if known < len(w.senders) {
		if err := w.discover(ctx); err != nil {
			return err
		}
	}
	w.mu.Lock()
	waiting := map[string]string{} // sender -> conversation, of those with messages not yet listed
	for sender, id := range w.conv {
		if len(w.pending[sender]) > 0 {
			waiting[sender] = id
		}
	}
	w.mu.Unlock()
	for sender, id := range waiting {
		if err := w.readNewest(ctx, sender, id); err != nil {
			return err
		}
	}
	return nil
}

// discover finds the run's conversations among the org's most recent.
func (w *watcher) discover(ctx context.Context) error {
	var page struct {
		Items []struct {
			ID       string `json:"id"`
			Customer struct {
				WaID string `json:"waId"`
			} `json:"customer"`
		} `json:"items"`
	}
	if err := w.get(ctx, "/conversations?limit=100", &page); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range page.Items {
		if w.senders[c.Customer.WaID] {
			w.conv[c.Customer.WaID] = c.ID
		}
	}
	return nil
}

// readNewest reads a conversation newest first, page after page, until it
// is past the oldest message of its customer not yet listed: the bodies are
// dated a second apart in posting order, so that is usually one page.
func (w *watcher) readNewest(ctx context.Context, sender, conv string) error {
	cursor := ""
	for {
		var page struct {
			Items []struct {
				Text string `json:"text"`
			} `json:"items"`
			Cursor string `json:"cursor"`
		}
		path := "/conversations/" + conv + "/messages?order=desc&limit=50"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := w.get(ctx, path, &page); err != nil {
			return err
		}
		now := time.Now()
		w.mu.Lock()
		oldest := -1
		for _, m := range page.Items {
			i, ours := w.index(m.Text)
			if !ours {
				continue
			}
			oldest = i
			if w.pending[sender][i] {
				delete(w.pending[sender], i)
				w.seenAt[i] = now
			}
		}
		past := oldest < 0 || len(w.pending[sender]) == 0 || oldest < slices.Min(slices.Collect(maps.Keys(w.pending[sender])))
		w.mu.Unlock()
		if page.Cursor == "" || past {
			return nil
		}
		cursor = page.Cursor
	}
}

func (w *watcher) senderOf(i int) string { return w.order[i%len(w.order)] }

// index reads the body index back from the text "load message <i>".
func (w *watcher) index(text string) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(text, "load message %d", &i); err != nil {
		return 0, false
	}
	return i, true
}

func (w *watcher) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.t.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.t.Token)
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// latencies returns the sorted end-to-end latencies and how many acked
// messages were never listed.
func (w *watcher) latencies() ([]time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Duration, 0, len(w.seenAt))
	for i, seen := range w.seenAt {
		out = append(out, seen.Sub(w.sentAt[i]))
	}
	slices.Sort(out)
	return out, len(w.sentAt) - len(w.seenAt)
}

// storedRate is messages listed per second, from the first post to the
// last message listed.
func (w *watcher) storedRate() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, s := range w.seenAt {
		if s.After(last) {
			last = s
		}
	}
	if last.IsZero() {
		return 0
	}
	return float64(len(w.seenAt)) / last.Sub(w.first).Seconds()
}
