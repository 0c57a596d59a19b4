// Command pushbench measures live push on the local stack: the latency from
// a webhook POST to the event on the owner's WebSocket (p50/p99), and how
// many pushes a burst of messages to one conversation causes.
//
//	go run ./scripts/pushbench -n 200 -burst 100
//
// It starts its own local stack (embedded adapters, a temporary data
// directory, a free port), so it needs nothing running.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/localstack"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

func main() {
	n := flag.Int("n", 200, "messages for the latency figure, one at a time")
	burst := flag.Int("burst", 100, "messages of the burst to one conversation")
	config := flag.String("config", "scripts/localstack/demo.json", "local stack config")
	flag.Parse()
	if err := run(*config, *n, *burst); err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}

// socket collects what one user's WebSocket receives, by arrival time.
type socket struct {
	mu       sync.Mutex
	received map[string]time.Time // message.received by message id
	counts   map[string]int       // by event type
	total    int
	notify   chan struct{}
}

func open(ctx context.Context, url, token string) (*socket, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{auth.WebSocketProtocol, token}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	s := &socket{received: map[string]time.Time{}, counts: map[string]int{}, notify: make(chan struct{}, 1)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			at := time.Now()
			var ev struct {
				Type      string `json:"type"`
				MessageID string `json:"messageId"`
			}
			_ = json.Unmarshal(b, &ev)
			s.mu.Lock()
			s.total++
			s.counts[ev.Type]++
			if ev.Type == "message.received" {
				s.received[ev.MessageID] = at
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	return s, nil
}

func (s *socket) wait(id string, timeout time.Duration) (time.Time, bool) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		at, ok := s.received[id]
		s.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-s.notify:
		case <-deadline:
			return time.Time{}, false
		}
	}
}

// waitCount waits until typ arrived n times and returns when it did.
func (s *socket) waitCount(typ string, n int, timeout time.Duration) (time.Time, bool) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got := s.counts[typ]
		s.mu.Unlock()
		if got >= n {
			return time.Now(), true
		}
		select {
		case <-s.notify:
		case <-deadline:
			return time.Time{}, false
		}
	}
}

func (s *socket) snapshot() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, maps(s.counts)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func run(config string, n, burst int) error {
	cfg, err := localstack.LoadConfig(config)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pushbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	// Every user is the owner of the records: the latency is to the owner's socket.
	cfg.Integration.Preferences.Assign.Kind, cfg.Integration.Preferences.Assign.IDs = "users", []string{cfg.Users[1].ID}
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer st.Close()
	owner := cfg.Users[1]
	tok, err := st.Issuer.Issue(auth.Principal{UserID: owner.ID, Org: cfg.Org, Groups: owner.Groups}, time.Hour)
	if err != nil {
		return err
	}
	ctx := context.Background()
	sock, err := open(ctx, st.Info.WebSocketURL, tok)
	if err != nil {
		return err
	}
	for st.Hub.Connections() == 0 {
		time.Sleep(time.Millisecond)
	}
	post := func(from, wamid, text string) error {
		body := webhook(st.Info.PhoneNumberID, from, wamid, text, time.Now())
		req, _ := http.NewRequest("POST", st.Info.WebhookURL, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", whatsapp.Sign([]byte(st.Info.AppSecret), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
		return nil
	}

	// Latency: one message at a time, each from its own customer (a new
	// conversation each time, the heavier path: record, conversation,
	// notification raised).
	var lat, notLat []time.Duration
	for i := range n {
		id := fmt.Sprintf("wamid.bench.%d", i)
		start := time.Now()
		if err := post(fmt.Sprintf("1555%07d", i), id, "hola"); err != nil {
			return err
		}
		at, ok := sock.wait(id, 10*time.Second)
		if !ok {
			return fmt.Errorf("message %s never pushed", id)
		}
		lat = append(lat, at.Sub(start))
		// The popup: the owner's notification, one hop further (the
		// notification written by the notify consumer, then pushed).
		at, ok = sock.waitCount("notification.raised", i+1, 10*time.Second)
		if !ok {
			return fmt.Errorf("notification of %s never pushed", id)
		}
		notLat = append(notLat, at.Sub(start))
	}
	report := func(what string, d []time.Duration) {
		slices.Sort(d)
		pct := func(p float64) time.Duration {
			return d[min(len(d)-1, int(float64(len(d))*p))].Round(100 * time.Microsecond)
		}
		fmt.Printf("push latency, webhook POST -> owner's socket, %s, %d messages: p50 %v  p99 %v  max %v\n",
			what, len(d), pct(0.50), pct(0.99), pct(1))
	}
	report("message.received", lat)
	report("notification.raised", notLat)
	time.Sleep(200 * time.Millisecond) // nothing of this phase left in flight

	// Burst: messages to one conversation as fast as the webhook takes them.
	before, beforeCounts := sock.snapshot()
	const customer = "15559990000"
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	start := time.Now()
	for i := range burst {
		wg.Go(func() {
			if err := post(customer, fmt.Sprintf("wamid.burst.%d", i), fmt.Sprintf("mensaje %d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for i := range burst {
		if _, ok := sock.wait(fmt.Sprintf("wamid.burst.%d", i), 30*time.Second); !ok {
			return fmt.Errorf("burst message %d never pushed", i)
		}
	}
	// Trailing notification updates: wait until the socket is quiet for a second.
	after, afterCounts := sock.snapshot()
	last := time.Now()
	for time.Since(last) < time.Second {
		time.Sleep(50 * time.Millisecond)
		if now, counts := sock.snapshot(); now != after {
			after, afterCounts, last = now, counts, time.Now()
		}
	}
	took := last.Sub(start)
	pushes := after - before
	fmt.Printf("burst of %d messages to one conversation, all pushed within %v: %d pushes to the owner (%.2f per webhook):",
		burst, took.Round(time.Millisecond), pushes, float64(pushes)/float64(burst))
	types := []string{}
	for typ := range afterCounts {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		if d := afterCounts[typ] - beforeCounts[typ]; d > 0 {
			fmt.Printf(" %s %d", typ, d)
		}
	}
	fmt.Println()
	return nil
}

func webhook(pnid, from, wamid, text string, ts time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "200000000000001", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550100001", "phone_number_id": pnid},
			"contacts":          []any{map[string]any{"wa_id": from, "profile": map[string]any{"name": "Bench"}}},
			"messages": []any{map[string]any{"from": from, "id": wamid, "timestamp": fmt.Sprint(ts.Unix()),
				"type": "text", "text": map[string]any{"body": text}}},
		}}}}},
	})
	return b
}
