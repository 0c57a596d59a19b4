package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
)

// hookTable is a table whose next writes a test can watch or break, to
// land a webhook between two writes or to crash after one.
type hookTable struct {
	table.Table
	mu    sync.Mutex
	after func() // runs once, after the next successful write
	crash bool   // every write after the next one fails
	armed bool
}

var errCrash = errors.New("process killed")

func (h *hookTable) Write(ctx context.Context, ops ...table.Op) error {
	h.mu.Lock()
	if h.armed && h.crash {
		h.mu.Unlock()
		return errCrash
	}
	h.mu.Unlock()
	if err := h.Table.Write(ctx, ops...); err != nil {
		return err
	}
	h.mu.Lock()
	after := h.after
	h.after = nil
	if h.crash {
		h.armed = true
	}
	h.mu.Unlock()
	if after != nil {
		after()
	}
	return nil
}

// afterNextWrite runs fn once, right after the next write lands.
func (h *hookTable) afterNextWrite(fn func()) { h.mu.Lock(); h.after = fn; h.mu.Unlock() }

// crashAfterNextWrite makes every write after the next one fail, until restart.
func (h *hookTable) crashAfterNextWrite() { h.mu.Lock(); h.crash, h.armed = true, false; h.mu.Unlock() }

func (h *hookTable) restart() {
	h.mu.Lock()
	h.crash, h.armed, h.after = false, false, nil
	h.mu.Unlock()
}

func forEachHookedTable(t *testing.T, fn func(t *testing.T, s *storage.Store, h *hookTable)) {
	for name, open := range storagetest.Tables(t) {
		t.Run(name, func(t *testing.T) {
			h := &hookTable{Table: open(t)}
			fn(t, storage.New(h), h)
		})
	}
}

// customerWrote stores a customer message at t0 and returns its conversation.
func customerWrote(t *testing.T, f *fixture) inbox.Conversation {
	t.Helper()
	if err := f.intake.HandleBody(context.Background(), textFrom("15551230000", "Ana", "wamid.in1", t0, "hi")); err != nil {
		t.Fatal(err)
	}
	return allConversations(t, f.store, inbox.Filter{})[0]
}

// putReply stores a queued reply by user at at, answering the conversation.
func putReply(t *testing.T, s *storage.Store, conv inbox.Conversation, id, user string, at time.Time) *inbox.Message {
	t.Helper()
	msg := &inbox.Message{Org: org, ConversationID: conv.ID, ID: id, Direction: inbox.Outbound, Type: "text", Text: "reply",
		Timestamp: at, Status: inbox.StatusQueued, StatusAt: at, SentBy: user}
	if _, _, err := s.PutOutbound(context.Background(), msg, "", "", func(c *inbox.Conversation) error { c.ApplyReply(user, "reply", at); return nil }); err != nil {
		t.Fatal(err)
	}
	return msg
}

func stored(t *testing.T, s *storage.Store, m *inbox.Message) *inbox.Message {
	t.Helper()
	got, err := s.Message(context.Background(), m.Org, m.ConversationID, m.Timestamp, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func conversation(t *testing.T, s *storage.Store, id string) *inbox.Conversation {
	t.Helper()
	c, err := s.Conversation(context.Background(), org, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordSentRaces(t *testing.T) {
	forEachHookedTable(t, func(t *testing.T, s *storage.Store, h *hookTable) {
		f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-ana"}})
		ctx := context.Background()
		conv := customerWrote(t, f)

		t.Run("a failed that lands during RecordSent is never overwritten by sent", func(t *testing.T) {
			at := t0.Add(time.Minute)
			msg := putReply(t, s, conv, "out-race", "u-ana", at)
			h.afterNextWrite(func() {
				if err := f.intake.HandleBody(ctx, statusBody("wamid.race", "failed", at.Add(2*time.Second))); err != nil {
					t.Error(err)
				}
			})
			if err := s.RecordSent(ctx, org, conv.ID, at, msg.ID, "wamid.race", at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			got := stored(t, s, msg)
			if got.Status != inbox.StatusFailed || got.WAMID != "wamid.race" || len(got.Errors) != 1 || got.Errors[0].Code != 131026 {
				t.Errorf("status %s wamid %q errors %+v, want WhatsApp's failure kept", got.Status, got.WAMID, got.Errors)
			}
		})

		t.Run("a crash during RecordSent loses no waiting status", func(t *testing.T) {
			at := t0.Add(2 * time.Minute)
			msg := putReply(t, s, conv, "out-crash", "u-ana", at)
			for i, st := range []string{"delivered", "read"} { // raced ahead of the send recording its wamid
				if err := f.intake.HandleBody(ctx, statusBody("wamid.crash", st, at.Add(time.Duration(i+2)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			h.crashAfterNextWrite()
			_ = s.RecordSent(ctx, org, conv.ID, at, msg.ID, "wamid.crash", at.Add(time.Second))
			h.restart()
			// The redelivered job finds the attempt of the dead sender and
			// judges the send in doubt.
			if err := s.FailOutbound(ctx, org, conv.ID, at, msg.ID, at.Add(time.Minute), inbox.MessageError{Title: "Not confirmed"}); err != nil {
				t.Fatal(err)
			}
			got := stored(t, s, msg)
			if got.Status != inbox.StatusRead || got.WAMID != "wamid.crash" || len(got.Errors) != 0 {
				t.Errorf("status %s wamid %q errors %+v, want read: the waiting statuses were lost", got.Status, got.WAMID, got.Errors)
			}
		})
	})
}

func TestFailedReplyGivesBackUnanswered(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-ana"}})
		ctx := context.Background()
		conv := customerWrote(t, f)
		unanswered := func(want *time.Time, by string) {
			t.Helper()
			c := conversation(t, s, conv.ID)
			if (c.UnansweredSince == nil) != (want == nil) || (want != nil && !c.UnansweredSince.Equal(*want)) || c.AnsweredBy != by {
				t.Errorf("unansweredSince %v answeredBy %q, want %v %q", c.UnansweredSince, c.AnsweredBy, want, by)
			}
			listed := len(allConversations(t, s, inbox.Filter{Unanswered: true})) == 1
			if listed != (want != nil) {
				t.Errorf("listed as unanswered: %v, want %v", listed, want != nil)
			}
			if by != "" {
				if n := len(allConversations(t, s, inbox.Filter{AnsweredBy: by})); n != 1 {
					t.Errorf("answered by %s lists %d conversations, want 1", by, n)
				}
			}
		}
		first := t0

		r1 := putReply(t, s, conv, "out-1", "u-ana", t0.Add(time.Minute))
		unanswered(nil, "u-ana")
		if err := s.FailOutbound(ctx, org, conv.ID, r1.Timestamp, r1.ID, t0.Add(2*time.Minute), inbox.MessageError{Title: "Refused"}); err != nil {
			t.Fatal(err)
		}
		unanswered(&first, "")
		if n := len(allConversations(t, s, inbox.Filter{AnsweredBy: "u-ana"})); n != 0 {
			t.Errorf("a failed reply still counts as answered by u-ana (%d)", n)
		}

		r2 := putReply(t, s, conv, "out-2", "u-ben", t0.Add(3*time.Minute))
		if err := s.RecordSent(ctx, org, conv.ID, r2.Timestamp, r2.ID, "wamid.r2", r2.Timestamp); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(4 * time.Minute)
		if err := f.intake.HandleBody(ctx, textFrom("15551230000", "Ana", "wamid.in2", later, "¿hola?")); err != nil {
			t.Fatal(err)
		}
		unanswered(&later, "u-ben")
		// WhatsApp fails the second reply: both replies failed, so the
		// customer waits since the first message.
		if err := f.intake.HandleBody(ctx, statusBody("wamid.r2", "failed", t0.Add(5*time.Minute))); err != nil {
			t.Fatal(err)
		}
		unanswered(&first, "")
		// The customer read it after all: answered again, by u-ben.
		if err := f.intake.HandleBody(ctx, statusBody("wamid.r2", "read", t0.Add(6*time.Minute))); err != nil {
			t.Fatal(err)
		}
		unanswered(&later, "u-ben")
		got := stored(t, s, r2)
		if got.Status != inbox.StatusRead || len(got.Errors) != 0 || len(got.History) != 1 || got.History[0].Status != inbox.StatusFailed {
			t.Errorf("status %s errors %+v history %+v, want read with the failure in its history", got.Status, got.Errors, got.History)
		}
	})
}

func TestTenantsApart(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-ana"}})
		ctx := context.Background()
		const otherOrg, otherNumber = "org-other", "106540352242999"
		if err := s.CreateIntegration(ctx, &integration.Integration{ID: "int-2", Org: otherOrg, Nickname: "Other", PhoneNumberID: otherNumber, WABAID: "waba-2",
			Active: true, Preferences: integration.Preferences{Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-eve"}}}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		conv := customerWrote(t, f)
		msg := putReply(t, s, conv, "out-1", "u-ana", t0.Add(time.Minute))
		if err := s.RecordSent(ctx, org, conv.ID, msg.Timestamp, msg.ID, "wamid.acme.out", msg.Timestamp); err != nil {
			t.Fatal(err)
		}

		// The other org's number carries a status of acme's reply, with
		// and without acme's callback data: acme's message is untouched.
		st := map[string]any{"id": "wamid.acme.out", "status": "failed", "timestamp": fmt.Sprint(t0.Add(2 * time.Minute).Unix()), "recipient_id": "15551230000",
			"errors": []any{map[string]any{"code": 131026, "title": "Message undeliverable"}}}
		for _, opaque := range []string{"", inbox.RefOf(msg).String()} {
			if opaque != "" {
				st["biz_opaque_callback_data"] = opaque
			}
			if err := f.intake.HandleBody(ctx, body(otherNumber, nil, nil, []map[string]any{st})); err != nil {
				t.Fatal(err)
			}
			if got := stored(t, s, msg); got.Status != inbox.StatusSent || len(got.Errors) != 0 {
				t.Errorf("callback data %q: acme's message is %s %+v after a status on another org's number", opaque, got.Status, got.Errors)
			}
		}

		// A message on the other org's number with a wamid acme has seen
		// is the other org's message: acme's claim does not suppress it.
		msgs := []map[string]any{{"from": "15559998888", "id": "wamid.in1", "timestamp": fmt.Sprint(t0.Unix()), "type": "text", "text": map[string]any{"body": "hi"}}}
		if err := f.intake.HandleBody(ctx, body(otherNumber, []map[string]any{{"wa_id": "15559998888", "profile": map[string]any{"name": "Eve's customer"}}}, msgs, nil)); err != nil {
			t.Fatal(err)
		}
		others, _, err := s.Conversations(ctx, otherOrg, inbox.Filter{}, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(others) != 1 || others[0].Customer.WaID != "15559998888" {
			t.Errorf("other org's conversations %+v, want its customer's", others)
		}
		if got := allConversations(t, s, inbox.Filter{}); len(got) != 1 || got[0].ID != conv.ID {
			t.Errorf("acme's conversations changed: %+v", got)
		}
	})
}
