package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/records"
)

// jobQueue stands in for the outbound queue: it keeps the jobs, or refuses
// them while down is set.
type jobQueue struct {
	mu   sync.Mutex
	jobs []outbox.Job
	down bool
}

func (q *jobQueue) Send(_ context.Context, msgs ...queue.Outgoing) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return errors.New("queue unavailable")
	}
	for _, m := range msgs {
		j, err := outbox.DecodeJob(m.Body)
		if err != nil {
			return err
		}
		q.jobs = append(q.jobs, j)
	}
	return nil
}

func (q *jobQueue) take() []outbox.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.jobs
	q.jobs = nil
	return out
}

func (q *jobQueue) setDown(down bool) { q.mu.Lock(); q.down = down; q.mu.Unlock() }

type messageJSON struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversationId"`
	Direction      string    `json:"direction"`
	Type           string    `json:"type"`
	Text           string    `json:"text"`
	Status         string    `json:"status"`
	SentBy         string    `json:"sentBy"`
	Timestamp      time.Time `json:"timestamp"`
	Errors         []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// replyRig is the harness with one conversation: Ana Díaz (a Lead, first
// name Ana) wrote to acme at the harness clock.
type replyRig struct {
	*harness
	queue  *jobQueue
	convID string
	body   any // of the request under test, when prepare sets it
}

func newReplyRig(t *testing.T) *replyRig {
	h := newHarness(t, nil)
	// Idempotency keys expire by the table's wall clock (as DynamoDB's TTL
	// does), so the API's clock must not lag it by days: move it to now
	// and issue tokens that are valid then.
	h.Now = time.Now().UTC().Truncate(time.Second)
	for _, p := range []auth.Principal{
		{UserID: "u-sam", Org: "acme", Groups: []string{"sales"}},
		{UserID: "u-lee", Org: "acme", Groups: []string{"sales"}},
		{UserID: "u-eve", Org: "other", Groups: []string{"admin"}},
	} {
		tok, err := h.Issuer.Issue(p, 72*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h.Tokens[p.UserID] = tok
	}
	q := &jobQueue{}
	h.App.Replies.Queue = q
	h.customerWrites("15550001111", "Ana Díaz", "wamid.ana.1", "Hola")
	var list convPage
	if got := h.do("u-sam", "GET", "/v1/conversations", nil, &list); got != http.StatusOK || len(list.Items) != 1 {
		t.Fatalf("list: %d, %d items", got, len(list.Items))
	}
	return &replyRig{harness: h, queue: q, convID: list.Items[0].ID}
}

func (r *replyRig) path() string { return "/v1/conversations/" + r.convID + "/messages" }

// outbound returns the conversation's outbound messages.
func (r *replyRig) outbound() []messageJSON {
	r.t.Helper()
	var page struct {
		Items []messageJSON `json:"items"`
	}
	if got := r.do("u-sam", "GET", r.path(), nil, &page); got != http.StatusOK {
		r.t.Fatalf("list messages: %d", got)
	}
	var out []messageJSON
	for _, m := range page.Items {
		if m.Direction == string(inbox.Outbound) {
			out = append(out, m)
		}
	}
	return out
}

func (r *replyRig) createCannedResponse(org string, module records.Module, text string) string {
	r.t.Helper()
	c, err := canned.New(org, "u-admin", module, "Greeting "+string(module), text, r.Now)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.App.Store.CreateCannedResponse(context.Background(), c); err != nil {
		r.t.Fatal(err)
	}
	return c.ID
}

func TestReplyQueuesRenderedText(t *testing.T) {
	r := newReplyRig(t)
	r.Now = r.Now.Add(10 * time.Minute)
	var msg messageJSON
	got := r.do("u-sam", "POST", r.path(), map[string]any{"text": "Hola $[Leads.First Name] ($[Leads.Email]), ¿en qué te ayudo?"}, &msg)
	if got != http.StatusAccepted {
		t.Fatalf("status %d, want 202", got)
	}
	// An empty field renders empty: allowed while another field is filled.
	want := messageJSON{ID: msg.ID, ConversationID: r.convID, Direction: "out", Type: "text", Text: "Hola Ana (), ¿en qué te ayudo?",
		Status: "queued", SentBy: "u-sam", Timestamp: r.Now}
	if msg.ID == "" || msg.ConversationID != want.ConversationID || msg.Direction != want.Direction || msg.Type != want.Type ||
		msg.Text != want.Text || msg.Status != want.Status || msg.SentBy != want.SentBy || !msg.Timestamp.Equal(want.Timestamp) {
		t.Errorf("reply\n got %+v\nwant %+v", msg, want)
	}
	jobs := r.queue.take()
	if len(jobs) != 1 || jobs[0] != (outbox.Job{Org: "acme", ConversationID: r.convID, MessageID: msg.ID, Timestamp: jobs[0].Timestamp, Attempt: 1}) ||
		!jobs[0].Timestamp.Equal(r.Now) {
		t.Errorf("jobs %+v", jobs)
	}
	if out := r.outbound(); len(out) != 1 || out[0].ID != msg.ID || out[0].Status != "queued" {
		t.Errorf("messages tab: %+v", out)
	}
	var conv struct {
		AnsweredBy      string     `json:"answeredBy"`
		AnsweredAt      *time.Time `json:"answeredAt"`
		UnansweredSince *time.Time `json:"unansweredSince"`
	}
	r.do("u-sam", "GET", "/v1/conversations/"+r.convID, nil, &conv)
	if conv.AnsweredBy != "u-sam" || conv.AnsweredAt == nil || !conv.AnsweredAt.Equal(r.Now) || conv.UnansweredSince != nil {
		t.Errorf("conversation after reply: %+v", conv)
	}
	var unanswered convPage
	r.do("u-sam", "GET", "/v1/conversations?unanswered=all", nil, &unanswered)
	if len(unanswered.Items) != 0 {
		t.Errorf("still listed as unanswered")
	}
}

func TestReplyWithCannedResponse(t *testing.T) {
	r := newReplyRig(t)
	id := r.createCannedResponse("acme", records.Leads, "Thanks $[Leads.First Name], we'll call you today.")
	var msg messageJSON
	if got := r.do("u-lee", "POST", r.path(), map[string]any{"cannedResponseId": id}, &msg); got != http.StatusAccepted {
		t.Fatalf("status %d", got)
	}
	if msg.Text != "Thanks Ana, we'll call you today." || msg.SentBy != "u-lee" {
		t.Errorf("reply %+v", msg)
	}
	if jobs := r.queue.take(); len(jobs) != 1 || jobs[0].MessageID != msg.ID {
		t.Errorf("jobs %+v", jobs)
	}
}

func TestReplyIdempotencyKey(t *testing.T) {
	r := newReplyRig(t)
	body := map[string]any{"text": "Hola"}
	var first, again, other messageJSON
	if got := r.do("u-sam", "POST", r.path(), body, &first, "Idempotency-Key", "k-1"); got != http.StatusAccepted {
		t.Fatalf("first: %d", got)
	}
	// Sent and recorded meanwhile: the repeat returns it and enqueues nothing.
	r.queue.take()
	msg, err := r.App.Store.Message(context.Background(), "acme", r.convID, first.Timestamp, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.App.Store.RecordSent(context.Background(), "acme", r.convID, msg.Timestamp, msg.ID, "wamid.out.1", r.Now); err != nil {
		t.Fatal(err)
	}
	// The key with another request is refused, never answered with the
	// first reply (the client would take it for the new one).
	for _, changed := range []map[string]any{{"text": "Hola, again"}, {"cannedResponseId": "canned_x"}} {
		var e apiError
		if got := r.do("u-sam", "POST", r.path(), changed, &e, "Idempotency-Key", "k-1"); got != http.StatusUnprocessableEntity || e.Error.Code != "idempotency_key_reused" {
			t.Errorf("key reused with %v: %d %+v, want 422 idempotency_key_reused", changed, got, e)
		}
	}
	if got := r.do("u-sam", "POST", r.path(), body, &again, "Idempotency-Key", "k-1"); got != http.StatusOK {
		t.Fatalf("repeat: %d, want 200", got)
	}
	if again.ID != first.ID || again.Status != "sent" || again.Text != "Hola" {
		t.Errorf("repeat returned %+v, want the first message, now sent", again)
	}
	if jobs := r.queue.take(); len(jobs) != 0 {
		t.Errorf("repeat of a sent reply enqueued %d jobs", len(jobs))
	}
	// The key is the user's: another user's same key is another reply.
	if got := r.do("u-lee", "POST", r.path(), body, &other, "Idempotency-Key", "k-1"); got != http.StatusAccepted || other.ID == first.ID {
		t.Errorf("other user, same key: %d %s", got, other.ID)
	}
	if n := len(r.outbound()); n != 2 {
		t.Errorf("%d outbound messages, want 2", n)
	}
	// The same key in another conversation is another request.
	r.customerWrites("15550002222", "Bo", "wamid.bo.1", "hi")
	var list convPage
	r.do("u-sam", "GET", "/v1/conversations", nil, &list)
	for _, c := range list.Items {
		if c.ID == r.convID {
			continue
		}
		var e apiError
		if got := r.do("u-sam", "POST", "/v1/conversations/"+c.ID+"/messages", body, &e, "Idempotency-Key", "k-1"); got != http.StatusUnprocessableEntity || e.Error.Code != "idempotency_key_reused" {
			t.Errorf("key reused in another conversation: %d %+v", got, e)
		}
	}
}

func TestReplyEnqueueFailure(t *testing.T) {
	t.Run("retry with the same key enqueues again", func(t *testing.T) {
		r := newReplyRig(t)
		r.queue.setDown(true)
		var e apiError
		if got := r.do("u-sam", "POST", r.path(), map[string]any{"text": "Hola"}, &e, "Idempotency-Key", "k-9"); got != http.StatusInternalServerError || e.Error.Code != "internal" {
			t.Fatalf("queue down: %d %+v, want 500", got, e)
		}
		r.queue.setDown(false)
		var msg messageJSON
		if got := r.do("u-sam", "POST", r.path(), map[string]any{"text": "Hola"}, &msg, "Idempotency-Key", "k-9"); got != http.StatusOK {
			t.Fatalf("retry: %d, want 200", got)
		}
		jobs := r.queue.take()
		if len(jobs) != 1 || jobs[0].MessageID != msg.ID || msg.Status != "queued" {
			t.Fatalf("retry enqueued %+v for %+v", jobs, msg)
		}
		if n := len(r.outbound()); n != 1 {
			t.Errorf("%d outbound messages, want 1", n)
		}
	})
	t.Run("without a key the reply shows failed", func(t *testing.T) {
		r := newReplyRig(t)
		r.queue.setDown(true)
		if got := r.do("u-sam", "POST", r.path(), map[string]any{"text": "Hola"}, nil); got != http.StatusInternalServerError {
			t.Fatalf("queue down: %d, want 500", got)
		}
		out := r.outbound()
		if len(out) != 1 || out[0].Status != "failed" || len(out[0].Errors) != 1 || out[0].Errors[0].Message != outbox.ReasonNotQueued {
			t.Fatalf("messages tab: %+v", out)
		}
		// The failed reply answered nobody: the conversation is back in
		// the unanswered filter and views.
		for _, q := range []string{"unanswered=all", "view=all-unanswered", "view=unanswered"} {
			var page convPage
			if got := r.do("u-sam", "GET", "/v1/conversations?"+q, nil, &page); got != http.StatusOK || len(page.Items) != 1 || page.Items[0].ID != r.convID {
				t.Errorf("?%s after the reply failed: %d %+v, want the conversation", q, got, page.Items)
			}
		}
	})
}

func TestReplyRefusals(t *testing.T) {
	long := strings.Repeat("a", canned.MaxTextLength+1)
	tests := []struct {
		name    string
		user    string
		prepare func(r *replyRig) // may change the world before the request
		path    func(r *replyRig) string
		body    any
		headers []string
		status  int
		code    string
		message string // a part of the message, when it matters
	}{
		{name: "no token", user: "", body: map[string]any{"text": "x"}, status: 401, code: "unauthenticated"},
		{name: "another org's conversation", user: "u-eve", body: map[string]any{"text": "x"}, status: 404, code: "not_found"},
		{name: "unknown conversation", user: "u-sam", path: func(*replyRig) string { return "/v1/conversations/conv_nope/messages" },
			body: map[string]any{"text": "x"}, status: 404, code: "not_found"},
		{name: "neither text nor canned", user: "u-sam", body: map[string]any{}, status: 400, code: "invalid"},
		{name: "both text and canned", user: "u-sam", body: map[string]any{"text": "x", "cannedResponseId": "c"}, status: 400, code: "invalid"},
		{name: "unknown field", user: "u-sam", body: map[string]any{"text": "x", "txt": "y"}, status: 400, code: "invalid"},
		{name: "six attachments", user: "u-sam", body: map[string]any{"text": "x", "attachmentIds": []string{"1", "2", "3", "4", "5", "6"}}, status: 400, code: "invalid"},
		{name: "attachments not built yet", user: "u-sam", body: map[string]any{"text": "x", "attachmentIds": []string{"att_1"}}, status: 400, code: "attachments_unavailable"},
		{name: "blank text", user: "u-sam", body: map[string]any{"text": " \n\t "}, status: 400, code: "invalid"},
		{name: "text too long", user: "u-sam", body: map[string]any{"text": long}, status: 400, code: "invalid", message: "4096"},
		{name: "idempotency key too long", user: "u-sam", body: map[string]any{"text": "x"}, headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 400, code: "invalid"},
		{name: "every merge field empty", user: "u-sam", body: map[string]any{"text": "Dear $[Contacts.First Name] $[Contacts.Last Name],"},
			status: 422, code: "merge_fields_missing", message: "$[Contacts.First Name]"},
		{name: "unknown canned response", user: "u-sam", body: map[string]any{"cannedResponseId": "canned_nope"}, status: 404, code: "not_found"},
		{name: "another org's canned response", user: "u-sam", prepare: func(r *replyRig) {
			id := r.createCannedResponse("other", records.Leads, "Hi")
			r.body = map[string]any{"cannedResponseId": id}
		}, status: 404, code: "not_found"},
		{name: "integration deactivated", user: "u-sam", body: map[string]any{"text": "x"}, prepare: func(r *replyRig) {
			if _, err := r.App.Store.UpdateIntegration(context.Background(), "acme", "int-acme", func(in *integration.Integration) error {
				in.Active = false
				return nil
			}); err != nil {
				r.t.Fatal(err)
			}
		}, status: 422, code: "integration_inactive"},
		{name: "customer never wrote", user: "u-sam", body: map[string]any{"text": "x"}, prepare: func(r *replyRig) {
			if _, err := r.App.Store.UpdateConversation(context.Background(), "acme", r.convID, func(c *inbox.Conversation) error {
				c.LastInboundAt = time.Time{}
				return nil
			}); err != nil {
				r.t.Fatal(err)
			}
		}, status: 422, code: "conversation_not_started"},
		{name: "window closed", user: "u-sam", body: map[string]any{"text": "x"}, prepare: func(r *replyRig) {
			r.Now = r.Now.Add(24*time.Hour + time.Second)
		}, status: 422, code: "window_closed", message: "closed at "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReplyRig(t)
			windowEnd := r.Now.Add(24 * time.Hour).Format(time.RFC3339) // the customer wrote at r.Now
			r.body = tt.body
			if tt.prepare != nil {
				tt.prepare(r)
			}
			path := r.path()
			if tt.path != nil {
				path = tt.path(r)
			}
			var e apiError
			got := r.do(tt.user, "POST", path, r.body, &e, tt.headers...)
			if tt.code == "window_closed" && !strings.Contains(e.Error.Message, windowEnd) {
				t.Errorf("message %q does not say the window closed at %s", e.Error.Message, windowEnd)
			}
			if got != tt.status || e.Error.Code != tt.code || e.Error.Message == "" || !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("got %d %+v, want %d %s (message with %q)", got, e.Error, tt.status, tt.code, tt.message)
			}
			if jobs := r.queue.take(); len(jobs) != 0 {
				t.Errorf("refused reply enqueued %d jobs", len(jobs))
			}
			if tt.status != 401 && tt.user != "u-eve" {
				if out := r.outbound(); len(out) != 0 {
					t.Errorf("refused reply stored: %+v", out)
				}
			}
		})
	}
}

func TestReplyTextAtTheLimit(t *testing.T) {
	r := newReplyRig(t)
	text := strings.Repeat("é", canned.MaxTextLength) // characters, not bytes
	var msg messageJSON
	if got := r.do("u-sam", "POST", r.path(), map[string]any{"text": text}, &msg); got != http.StatusAccepted || msg.Text != text {
		t.Fatalf("4096 characters: %d", got)
	}
}
