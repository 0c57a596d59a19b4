package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/filesecrets"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

const (
	phoneNumberID = "100000000000001"
	goodToken     = "acme-graph-token"
	appSecret     = "test-app-secret"
	customerWaID  = "15550001111"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable time shared by the app and the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is the outbound queue as the tests see it: it keeps every job
// sent, so a test hands them to the dispatcher when it chooses.
type recorder struct {
	mu   sync.Mutex
	sent []queue.Outgoing
}

func (r *recorder) Send(_ context.Context, msgs ...queue.Outgoing) error {
	r.mu.Lock()
	r.sent = append(r.sent, msgs...)
	r.mu.Unlock()
	return nil
}

// take returns and forgets the jobs sent so far.
func (r *recorder) take() []queue.Outgoing {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// rig is the send path against Meta's stand-in: the app on a bolt table,
// its webhook and metasim's Graph API on one httptest server, and the
// inbound queue consumed as in production.
type rig struct {
	t      *testing.T
	clock  *clock
	app    *app.App
	sim    *metasim.Sim
	srv    *httptest.Server
	queue  *recorder
	vault  *filesecrets.Store
	integ  *integration.Integration
	user   auth.Principal
	nextID int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	// The clock starts at the wall clock's second: the table expires
	// claims by the wall clock, and webhooks carry whole seconds.
	r := &rig{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, queue: &recorder{},
		user: auth.Principal{UserID: "u-sam", Org: "acme", Groups: []string{"sales"}}}
	dir := t.TempDir()
	vault, err := filesecrets.New(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	r.vault = vault
	mux := http.NewServeMux()
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)

	inbound := memqueue.New("inbound", memqueue.Options{VisibilityTimeout: time.Second, Logger: quietLog})
	r.app = app.New(app.Adapters{
		Table: storagetest.Bolt(t), Blobs: fileblob.New(filepath.Join(dir, "blobs"), r.srv.URL, []byte("0123456789abcdef0123456789abcdef")),
		Inbound: inbound, Outbound: r.queue, Secrets: vault,
		Graph: &whatsapp.GraphClient{BaseURL: r.srv.URL + "/v23.0"},
		Log:   quietLog, Now: r.clock.Now,
	})
	r.app.Dispatcher.Throttle.Base = 2 * time.Second
	r.sim = metasim.New(metasim.Config{
		WebhookURL: r.srv.URL + "/webhook", AppSecret: appSecret,
		Numbers:     []metasim.Number{{PhoneNumberID: phoneNumberID, AccessTokens: []string{goodToken}}},
		StatusDelay: time.Millisecond, RetryBackoff: 10 * time.Millisecond,
		Now: r.clock.Now, Logger: quietLog,
	})
	t.Cleanup(r.sim.Close)
	mux.Handle("/webhook", r.app.Webhook([]byte(appSecret), "verify"))
	mux.Handle("/", r.sim.Handler())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = inbound.Start(ctx, r.app.InboundHandler()) }()
	t.Cleanup(func() { cancel(); <-done; _ = inbound.Close() })

	r.integ = &integration.Integration{ID: "int-acme", Org: "acme", Nickname: "Sales", PhoneNumberID: phoneNumberID, WABAID: "200",
		Active: true, TokenRef: "tokens/int-acme", CreatedBy: "u-sam",
		Preferences: integration.Preferences{UnknownSenders: records.Leads, Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-sam"}}}}
	r.setToken(goodToken)
	if err := r.app.Store.CreateIntegration(context.Background(), r.integ); err != nil {
		t.Fatal(err)
	}
	storagetest.Fund(t, r.app.Store, "acme", 1_000_000)
	return r
}

func (r *rig) setToken(token string) {
	r.t.Helper()
	if err := r.vault.Put(context.Background(), r.integ.TokenRef, token); err != nil {
		r.t.Fatal(err)
	}
}

// customerWrites sends a text through the simulator and waits until the
// conversation has it; it returns the conversation.
func (r *rig) customerWrites(from, name, text string) *inbox.Conversation {
	r.t.Helper()
	res, err := r.sim.Send(context.Background(), metasim.Inbound{PhoneNumberID: phoneNumberID, From: from, Name: name, Text: text})
	if err != nil {
		r.t.Fatal(err)
	}
	var conv *inbox.Conversation
	waitFor(r.t, "inbound message stored", func() bool {
		seen, err := r.app.Store.SeenMessage(context.Background(), "acme", res.ID)
		return err == nil && seen
	})
	convs, _, err := r.app.Store.Conversations(context.Background(), "acme", inbox.Filter{}, r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	for i := range convs {
		if convs[i].Customer.WaID == from || (from == "" && convs[i].Customer.UserID != "") {
			conv = &convs[i]
		}
	}
	if conv == nil {
		r.t.Fatalf("no conversation with %s", from)
	}
	return conv
}

// reply queues a reply and returns it with the job it enqueued.
func (r *rig) reply(conv *inbox.Conversation, text string) (*inbox.Message, queue.Message) {
	r.t.Helper()
	msg, _, err := r.app.Replies.Reply(context.Background(), r.user, conv.ID, outbox.ReplyRequest{Text: text})
	if err != nil {
		r.t.Fatal(err)
	}
	jobs := r.queue.take()
	if len(jobs) != 1 {
		r.t.Fatalf("reply enqueued %d jobs, want 1", len(jobs))
	}
	return msg, r.delivery(jobs[0], 1)
}

func (r *rig) delivery(o queue.Outgoing, receiveCount int) queue.Message {
	r.nextID++
	return queue.Message{ID: "qm-" + itoa(r.nextID), Body: o.Body, ReceiveCount: receiveCount}
}

// dispatch hands deliveries to the dispatcher and returns the failed ids.
func (r *rig) dispatch(batch ...queue.Message) []string {
	return r.app.Dispatcher.HandleBatch(context.Background(), batch)
}

func (r *rig) message(m *inbox.Message) *inbox.Message {
	r.t.Helper()
	got, err := r.app.Store.Message(context.Background(), m.Org, m.ConversationID, m.Timestamp, m.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func wantFailed(t *testing.T, m *inbox.Message, code int, reason string) {
	t.Helper()
	if m.Status != inbox.StatusFailed || m.WAMID != "" {
		t.Fatalf("message %s: status %s wamid %q, want failed without wamid", m.ID, m.Status, m.WAMID)
	}
	if len(m.Errors) != 1 || m.Errors[0].Code != code || m.Errors[0].Message != reason {
		t.Fatalf("errors %+v, want code %d %q", m.Errors, code, reason)
	}
}

func TestSendRecordsWamidAndStatusesComeBack(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "Hola, ¿tienen stock?")
	msg, job := r.reply(conv, "Hola $[Leads.First Name], sí. — Sam")

	if failed := r.dispatch(job); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	out := r.sim.Outbox(customerWaID)
	if len(out) != 1 || out[0].Text != "Hola Ana, sí. — Sam" || out[0].PhoneNumberID != phoneNumberID {
		t.Fatalf("simulator outbox %+v", out)
	}
	got := r.message(msg)
	if got.WAMID != out[0].ID {
		t.Fatalf("wamid %q, want %q", got.WAMID, out[0].ID)
	}
	// metasim posts sent, delivered, read through the webhook; the inbound
	// consumer applies them.
	waitFor(t, "status read", func() bool { return r.message(msg).Status == inbox.StatusRead })
	got = r.message(msg)
	if got.Delivered == nil || got.Read == nil || got.Pricing == nil {
		t.Errorf("delivered %v read %v pricing %v, want all set", got.Delivered, got.Read, got.Pricing)
	}
	c, err := r.app.Store.Conversation(context.Background(), "acme", conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.AnsweredBy != "u-sam" || c.UnansweredSince != nil || c.LastDirection != inbox.Outbound {
		t.Errorf("conversation answeredBy %q unansweredSince %v lastDirection %q", c.AnsweredBy, c.UnansweredSince, c.LastDirection)
	}
}

func TestSendToUsernameOnlyCustomer(t *testing.T) {
	r := newRig(t)
	_, err := r.sim.Send(context.Background(), metasim.Inbound{PhoneNumberID: phoneNumberID, UserID: "US.1234567890", Name: "Kai", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	var conv *inbox.Conversation
	waitFor(t, "conversation", func() bool {
		convs, _, err := r.app.Store.Conversations(context.Background(), "acme", inbox.Filter{}, r.clock.Now())
		if err == nil && len(convs) == 1 {
			conv = &convs[0]
		}
		return conv != nil
	})
	msg, job := r.reply(conv, "Hi $[Leads.First Name]")
	if failed := r.dispatch(job); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	out := r.sim.Outbox("US.1234567890")
	if len(out) != 1 || out[0].ToUserID != "US.1234567890" || out[0].To != "" || out[0].Text != "Hi Kai" {
		t.Fatalf("outbox %+v", out)
	}
	if got := r.message(msg); got.WAMID != out[0].ID {
		t.Fatalf("wamid %q, want %q", got.WAMID, out[0].ID)
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(r *rig)
		code    int
		reason  string
	}{
		{"window closed at Meta", func(r *rig) { r.clock.Add(25 * time.Hour) }, whatsapp.ErrCodeWindowClosed, outbox.ReasonWindowClosed},
		{"token refused", func(r *rig) { r.setToken("revoked-token") }, whatsapp.ErrCodeAccessToken, outbox.ReasonBadToken},
		{"token missing", func(r *rig) { r.updateIntegration(func(in *integration.Integration) { in.TokenRef = "tokens/gone" }) }, 0, outbox.ReasonNoToken},
		{"number deactivated", func(r *rig) { r.updateIntegration(func(in *integration.Integration) { in.Active = false }) }, 0, outbox.ReasonInactive},
		{"undeliverable", func(r *rig) { r.sim.FailNext(whatsapp.ErrCodeUndeliverable, 1) }, whatsapp.ErrCodeUndeliverable, outbox.ReasonUndeliverable},
		{"spam limit, in Graph's words", func(r *rig) { r.sim.FailNext(whatsapp.ErrCodeSpamRateLimit, 1) }, whatsapp.ErrCodeSpamRateLimit,
			"WhatsApp refused the message: Message failed to send because there are restrictions on how many messages can be sent from this phone number."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
			msg, job := r.reply(conv, "Hola")
			tt.prepare(r)
			if failed := r.dispatch(job); len(failed) != 0 {
				t.Fatalf("failed %v, want the job acknowledged", failed)
			}
			wantFailed(t, r.message(msg), tt.code, tt.reason)
			if jobs := r.queue.take(); len(jobs) != 0 {
				t.Errorf("%d jobs requeued, want none", len(jobs))
			}
			// A redelivery changes nothing and calls nobody.
			calls := r.app.Dispatcher.Counts.GraphCalls.Load()
			if failed := r.dispatch(r.delivery(queue.Outgoing{Body: job.Body}, 2)); len(failed) != 0 {
				t.Fatalf("redelivery failed %v", failed)
			}
			if got := r.app.Dispatcher.Counts.GraphCalls.Load(); got != calls {
				t.Errorf("redelivery made %d Graph calls", got-calls)
			}
		})
	}
}

func (r *rig) updateIntegration(fn func(*integration.Integration)) {
	r.t.Helper()
	_, err := r.app.Store.UpdateIntegration(context.Background(), "acme", r.integ.ID, func(in *integration.Integration) error {
		fn(in)
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func TestSendThrottledIsRetriedWithBackoffThenSent(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, job := r.reply(conv, "Hola")
	r.sim.FailNext(whatsapp.ErrCodeThroughput, 1)
	r.sim.FailNext(whatsapp.ErrCodePairRateLimit, 1)

	wantDelays := []time.Duration{2 * time.Second, 4 * time.Second}
	for i, base := range wantDelays {
		if failed := r.dispatch(job); len(failed) != 0 {
			t.Fatalf("try %d: failed %v, want the delivery acknowledged and the job requeued", i+1, failed)
		}
		jobs := r.queue.take()
		if len(jobs) != 1 {
			t.Fatalf("try %d: %d jobs requeued, want 1", i+1, len(jobs))
		}
		if d := jobs[0].Delay; d < base || d > base+base/4 {
			t.Errorf("try %d: delay %v, want %v plus at most a quarter", i+1, d, base)
		}
		next, err := outbox.DecodeJob(jobs[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		if next.Attempt != i+2 || next.MessageID != msg.ID {
			t.Errorf("requeued job %+v, want attempt %d of %s", next, i+2, msg.ID)
		}
		if got := r.message(msg); got.Status != inbox.StatusQueued {
			t.Fatalf("status %s while retrying, want queued", got.Status)
		}
		job = r.delivery(jobs[0], 1)
	}
	if failed := r.dispatch(job); len(failed) != 0 {
		t.Fatalf("third try failed %v", failed)
	}
	if got := r.message(msg); got.WAMID == "" || got.Status == inbox.StatusFailed || got.Status == inbox.StatusQueued {
		t.Fatalf("after throttling: status %s wamid %q, want sent", got.Status, got.WAMID)
	}
	if n := len(r.sim.Outbox(customerWaID)); n != 1 {
		t.Errorf("simulator received %d messages, want 1", n)
	}
	if got := r.app.Dispatcher.Counts.GraphCalls.Load(); got != 3 {
		t.Errorf("%d Graph calls, want 3", got)
	}
}

func TestSendThrottledTooOftenFails(t *testing.T) {
	r := newRig(t)
	r.app.Dispatcher.Throttle.MaxAttempts = 3
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, job := r.reply(conv, "Hola")
	r.sim.FailNext(whatsapp.ErrCodeThroughput, 10)
	for try := 1; try <= 3; try++ {
		if failed := r.dispatch(job); len(failed) != 0 {
			t.Fatalf("try %d failed %v", try, failed)
		}
		jobs := r.queue.take()
		if try < 3 {
			if len(jobs) != 1 {
				t.Fatalf("try %d: %d jobs requeued, want 1", try, len(jobs))
			}
			job = r.delivery(jobs[0], 1)
		} else if len(jobs) != 0 {
			t.Fatalf("last try requeued %d jobs", len(jobs))
		}
	}
	wantFailed(t, r.message(msg), whatsapp.ErrCodeThroughput, outbox.ReasonRateLimited)
}

func TestSendDuplicateDeliveriesCallGraphOnce(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, job := r.reply(conv, "Hola")
	dup := job
	dup.ID = "qm-dup" // SQS may deliver the same body twice under other ids

	if failed := r.dispatch(job, dup); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	if failed := r.dispatch(job); len(failed) != 0 { // a redelivery after a lost delete
		t.Fatalf("failed %v", failed)
	}
	if got := r.app.Dispatcher.Counts.GraphCalls.Load(); got != 1 {
		t.Errorf("%d Graph calls, want 1", got)
	}
	if n := len(r.sim.Outbox(customerWaID)); n != 1 {
		t.Errorf("customer got %d messages, want 1", n)
	}
	if got := r.message(msg); got.WAMID == "" {
		t.Error("no wamid recorded")
	}
}

func TestSendConcurrentDeliveriesCallGraphOnce(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	_, job := r.reply(conv, "Hola")
	var wg sync.WaitGroup
	for i := range 4 {
		d := job
		d.ID = "qm-concurrent-" + itoa(i)
		wg.Go(func() {
			if failed := r.dispatch(d); len(failed) != 0 {
				t.Errorf("delivery %s failed %v", d.ID, failed)
			}
		})
	}
	wg.Wait()
	if got := r.app.Dispatcher.Counts.GraphCalls.Load(); got != 1 {
		t.Errorf("%d Graph calls, want 1", got)
	}
	// Deliveries that found the send under way came back later; by then it
	// is recorded and they are skipped without calling WhatsApp.
	for _, o := range r.queue.take() {
		if failed := r.dispatch(r.delivery(o, 1)); len(failed) != 0 {
			t.Errorf("requeued delivery failed %v", failed)
		}
	}
	if n := len(r.sim.Outbox(customerWaID)); n != 1 {
		t.Errorf("customer got %d messages, want 1", n)
	}
}

func TestSendAttemptInDoubt(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		startedAgo time.Duration
		wantStatus inbox.Status
		wantDelay  time.Duration // of the requeued job; 0: none
	}{
		// A sender started a minute and a half ago and never recorded
		// the answer: it died after (or before) calling WhatsApp.
		{"stale attempt fails safe", 90 * time.Second, inbox.StatusFailed, 0},
		// A sender started 10 s ago may still be waiting for WhatsApp:
		// look again after its lease.
		{"fresh attempt waits", 10 * time.Second, inbox.StatusQueued, outbox.DefaultLease - 10*time.Second + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
			msg, job := r.reply(conv, "Hola")
			err := r.app.Store.UpdateSendAttempt(ctx, msg.Org, msg.ConversationID, msg.Timestamp, msg.ID,
				func(_ *inbox.Message, _ *inbox.SendAttempt) (*inbox.SendAttempt, error) {
					return &inbox.SendAttempt{ID: "try_crashed", StartedAt: r.clock.Now().Add(-tt.startedAgo)}, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if failed := r.dispatch(job); len(failed) != 0 {
				t.Fatalf("failed %v", failed)
			}
			if got := r.app.Dispatcher.Counts.GraphCalls.Load(); got != 0 {
				t.Errorf("%d Graph calls, want none", got)
			}
			got := r.message(msg)
			if got.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", got.Status, tt.wantStatus)
			}
			if tt.wantStatus == inbox.StatusFailed {
				wantFailed(t, got, 0, outbox.ReasonInDoubt)
			}
			jobs := r.queue.take()
			switch {
			case tt.wantDelay == 0 && len(jobs) != 0:
				t.Errorf("%d jobs requeued, want none", len(jobs))
			case tt.wantDelay != 0 && (len(jobs) != 1 || jobs[0].Delay != tt.wantDelay):
				t.Errorf("requeued %+v, want one job delayed %v", jobs, tt.wantDelay)
			}
		})
	}
}

func TestSendInDoubtThenRecordedSentIsSent(t *testing.T) {
	// A sender judged dead was only slow: its RecordSent arrives after the
	// message was failed as in doubt. The wamid proves it went out.
	ctx := context.Background()
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, _ := r.reply(conv, "Hola")
	if err := r.app.Store.FailOutbound(ctx, msg.Org, msg.ConversationID, msg.Timestamp, msg.ID, r.clock.Now(),
		inbox.MessageError{Message: outbox.ReasonInDoubt}); err != nil {
		t.Fatal(err)
	}
	if err := r.app.Store.RecordSent(ctx, msg.Org, msg.ConversationID, msg.Timestamp, msg.ID, "wamid.late", r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got := r.message(msg)
	if got.Status != inbox.StatusSent || got.WAMID != "wamid.late" || len(got.Errors) != 0 {
		t.Fatalf("status %s wamid %q errors %+v, want sent without errors", got.Status, got.WAMID, got.Errors)
	}
}

func TestSendTransientErrors(t *testing.T) {
	t.Run("Graph unavailable, then redelivered and sent", func(t *testing.T) {
		r := newRig(t)
		conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
		msg, job := r.reply(conv, "Hola")
		r.sim.FailNext(whatsapp.ErrCodeServiceUnavailable, 1)
		if failed := r.dispatch(job); len(failed) != 1 || failed[0] != job.ID {
			t.Fatalf("failed %v, want the job back to the queue", failed)
		}
		if got := r.message(msg); got.Status != inbox.StatusQueued {
			t.Fatalf("status %s, want queued", got.Status)
		}
		job.ReceiveCount = 2
		if failed := r.dispatch(job); len(failed) != 0 {
			t.Fatalf("redelivery failed %v", failed)
		}
		if got := r.message(msg); got.WAMID == "" {
			t.Fatal("not sent on redelivery (the first attempt must not be taken for one in doubt)")
		}
	})
	t.Run("no connection: retried, failed on the last delivery", func(t *testing.T) {
		r := newRig(t)
		conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
		msg, job := r.reply(conv, "Hola")
		r.app.Dispatcher.Graph = &whatsapp.GraphClient{BaseURL: closedURL(t) + "/v23.0"}
		for n := 1; n < queue.MaxReceiveCount; n++ {
			job.ReceiveCount = n
			if failed := r.dispatch(job); len(failed) != 1 {
				t.Fatalf("delivery %d: failed %v, want the job back to the queue", n, failed)
			}
			if got := r.message(msg); got.Status != inbox.StatusQueued {
				t.Fatalf("delivery %d: status %s, want queued", n, got.Status)
			}
		}
		job.ReceiveCount = queue.MaxReceiveCount
		if failed := r.dispatch(job); len(failed) != 0 {
			t.Fatalf("last delivery failed %v, want it acknowledged", failed)
		}
		got := r.message(msg)
		if got.Status != inbox.StatusFailed || len(got.Errors) != 1 || got.Errors[0].Message != outbox.ReasonUnavailable {
			t.Fatalf("status %s errors %+v, want failed: %s", got.Status, got.Errors, outbox.ReasonUnavailable)
		}
	})
	t.Run("request written, no answer: in doubt, not resent", func(t *testing.T) {
		r := newRig(t)
		conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
		msg, job := r.reply(conv, "Hola")
		r.app.Dispatcher.Graph = &whatsapp.GraphClient{BaseURL: hangUpURL(t) + "/v23.0"}
		if failed := r.dispatch(job); len(failed) != 0 {
			t.Fatalf("failed %v, want the job acknowledged", failed)
		}
		got := r.message(msg)
		if got.Status != inbox.StatusFailed || len(got.Errors) != 1 || got.Errors[0].Message != outbox.ReasonInDoubt {
			t.Fatalf("status %s errors %+v, want failed in doubt", got.Status, got.Errors)
		}
	})
}

// closedURL is an address nobody listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// hangUpURL is a server that reads the whole request and closes the
// connection without answering, like a Graph call lost on the way back.
func hangUpURL(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDecodeJob(t *testing.T) {
	ts := time.Date(2026, 11, 20, 12, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    outbox.Job
		wantErr bool
	}{
		{"round trip", string(outbox.Job{Org: "o", ConversationID: "c", MessageID: "m", Timestamp: ts, Attempt: 3}.Encode()),
			outbox.Job{Org: "o", ConversationID: "c", MessageID: "m", Timestamp: ts, Attempt: 3}, false},
		{"attempt defaults to 1", `{"org":"o","conversationId":"c","messageId":"m","timestamp":"2026-11-20T12:00:00.123456789Z"}`,
			outbox.Job{Org: "o", ConversationID: "c", MessageID: "m", Timestamp: ts, Attempt: 1}, false},
		{"missing message id", `{"org":"o","conversationId":"c","timestamp":"2026-11-20T12:00:00Z"}`, outbox.Job{}, true},
		{"not json", `{"org":`, outbox.Job{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := outbox.DecodeJob([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got != tt.want || !got.Timestamp.Equal(tt.want.Timestamp)) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnprocessableJobIsDropped(t *testing.T) {
	r := newRig(t)
	if failed := r.dispatch(queue.Message{ID: "bad", Body: []byte("not a job"), ReceiveCount: 1}); len(failed) != 0 {
		t.Fatalf("failed %v, want a bad body dropped", failed)
	}
	if failed := r.dispatch(queue.Message{ID: "gone", Body: outbox.Job{Org: "acme", ConversationID: "c", MessageID: "m", Timestamp: time.Now()}.Encode(), ReceiveCount: 1}); len(failed) != 0 {
		t.Fatalf("failed %v, want a job of a missing message dropped", failed)
	}
}

// lostAnswer sends through Graph, then loses WhatsApp's answer, as when
// the connection drops after the message went out.
type lostAnswer struct{ outbox.Graph }

func (g lostAnswer) SendMessage(ctx context.Context, phoneNumberID, accessToken string, m whatsapp.OutboundMessage) (string, error) {
	if _, err := g.Graph.SendMessage(ctx, phoneNumberID, accessToken, m); err != nil {
		return "", err
	}
	return "", errors.New("read: connection reset by peer")
}

func TestSendInDoubtCorrectedByWhatsAppStatuses(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, job := r.reply(conv, "Hola")
	r.app.Dispatcher.Graph = lostAnswer{r.app.Dispatcher.Graph}
	if failed := r.dispatch(job); len(failed) != 0 {
		t.Fatalf("failed %v, want the job acknowledged", failed)
	}
	if got := r.app.Dispatcher.Counts.InDoubt.Load(); got != 1 {
		t.Fatalf("%d sends in doubt, want 1", got)
	}
	out := r.sim.Outbox(customerWaID)
	if len(out) != 1 {
		t.Fatalf("customer got %d messages, want 1", len(out))
	}
	// The statuses WhatsApp posts carry the message's callback data: they
	// prove it went out and move it to its real status.
	waitFor(t, "the statuses to correct the message", func() bool { return r.message(msg).Status == inbox.StatusRead })
	got := r.message(msg)
	if got.WAMID != out[0].ID || len(got.Errors) != 0 {
		t.Errorf("wamid %q errors %+v, want %s without errors", got.WAMID, got.Errors, out[0].ID)
	}
	c, err := r.app.Store.Conversation(context.Background(), "acme", conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.UnansweredSince != nil || c.AnsweredBy != "u-sam" {
		t.Errorf("conversation unansweredSince %v answeredBy %q, want answered by u-sam", c.UnansweredSince, c.AnsweredBy)
	}
}

// badWamid sends through Graph and answers with a wamid outside the id
// alphabet, one that would read as another org's key.
type badWamid struct{ outbox.Graph }

func (g badWamid) SendMessage(ctx context.Context, phoneNumberID, accessToken string, m whatsapp.OutboundMessage) (string, error) {
	if _, err := g.Graph.SendMessage(ctx, phoneNumberID, accessToken, m); err != nil {
		return "", err
	}
	return "wamid.X#rival#wamid.Y\n", nil
}

func TestSendWithInvalidWamidIsSentAndCorrectable(t *testing.T) {
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, job := r.reply(conv, "Hola")
	r.app.Dispatcher.Graph = badWamid{r.app.Dispatcher.Graph}
	if failed := r.dispatch(job); len(failed) != 0 {
		t.Fatalf("failed %v, want the job acknowledged", failed)
	}
	if got := r.app.Dispatcher.Counts.BadWamid.Load(); got != 1 {
		t.Errorf("%d invalid wamids counted, want 1", got)
	}
	if got := r.app.Dispatcher.Counts.Failed.Load(); got != 0 {
		t.Errorf("%d messages failed, want 0: it went out", got)
	}
	out := r.sim.Outbox(customerWaID)
	if len(out) != 1 {
		t.Fatalf("customer got %d messages, want 1", len(out))
	}
	// WhatsApp's statuses carry the message's reference and the real wamid:
	// they give the message its wamid and its real status.
	waitFor(t, "the statuses to reach the message", func() bool { return r.message(msg).Status == inbox.StatusRead })
	got := r.message(msg)
	if got.WAMID != out[0].ID || len(got.Errors) != 0 || len(got.History) != 0 {
		t.Errorf("wamid %q errors %+v history %+v, want %s, no errors, no failure in its history", got.WAMID, got.Errors, got.History, out[0].ID)
	}
	// A duplicate delivery of the job sends nothing again.
	if failed := r.dispatch(r.delivery(queue.Outgoing{Body: job.Body}, 2)); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	if n := len(r.sim.Outbox(customerWaID)); n != 1 {
		t.Errorf("customer got %d messages after a redelivery, want 1", n)
	}
}

func TestRecordSentRefusesAnInvalidWamid(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	conv := r.customerWrites(customerWaID, "Ana Díaz", "hola")
	msg, _ := r.reply(conv, "Hola")
	err := r.app.Store.RecordSent(ctx, msg.Org, msg.ConversationID, msg.Timestamp, msg.ID, "wamid.X#rival", r.clock.Now())
	if !errors.Is(err, ids.ErrInvalid) {
		t.Fatalf("RecordSent with a '#' in the wamid: %v, want ids.ErrInvalid", err)
	}
	if got := r.message(msg); got.Status != inbox.StatusQueued || got.WAMID != "" {
		t.Errorf("status %s wamid %q, want queued without a wamid", got.Status, got.WAMID)
	}
}
