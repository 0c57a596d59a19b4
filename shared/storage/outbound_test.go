package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

var outNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// inboundConversation stores a conversation in which the customer wrote at
// outNow, and returns it.
func inboundConversation(t *testing.T, s *storage.Store, org, id string) *inbox.Conversation {
	t.Helper()
	conv := &inbox.Conversation{Org: org, ID: id, IntegrationID: "int", PhoneNumberID: "pn",
		Customer: inbox.Customer{WaID: "15550001111"}, Record: inbox.RecordRef{Module: records.Leads, ID: "rec"}, CreatedAt: outNow}
	in := &inbox.Message{Org: org, ConversationID: id, ID: "wamid.in." + id, WAMID: "wamid.in." + id, Direction: inbox.Inbound,
		Type: "text", Text: "hola", Timestamp: outNow, Status: inbox.StatusReceived}
	if _, err := s.SaveInbound(context.Background(), conv, in, func(c *inbox.Conversation) { c.ApplyInbound(in, true) }); err != nil {
		t.Fatal(err)
	}
	return conv
}

func outboundMessage(org, conv, id string, at time.Time) *inbox.Message {
	return &inbox.Message{Org: org, ConversationID: conv, ID: id, Direction: inbox.Outbound, Type: "text", Text: "Hi",
		Timestamp: at, Status: inbox.StatusQueued, StatusAt: at, SentBy: "u1"}
}

func applyReply(at time.Time) func(*inbox.Conversation) error {
	return func(c *inbox.Conversation) error { c.ApplyReply("u1", "Hi", at); return nil }
}

func TestPutOutbound(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		inboundConversation(t, s, "acme", "c1")
		inboundConversation(t, s, "acme", "c2")
		at := outNow.Add(time.Minute)

		first, hash, err := s.PutOutbound(ctx, outboundMessage("acme", "c1", "m1", at), "key-1", "hash-1", applyReply(at))
		if err != nil || hash != "hash-1" {
			t.Fatal(hash, err)
		}
		c, err := s.Conversation(ctx, "acme", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if c.AnsweredBy != "u1" || c.AnsweredAt == nil || !c.AnsweredAt.Equal(at) || c.UnansweredSince != nil || c.LastDirection != inbox.Outbound {
			t.Errorf("conversation after reply: %+v", c)
		}

		// The same key returns the first message and its request's hash,
		// and stores nothing new, whatever the second request was.
		again, hash, err := s.PutOutbound(ctx, outboundMessage("acme", "c1", "m2", at.Add(time.Second)), "key-1", "hash-2", applyReply(at.Add(time.Second)))
		if err != nil || again.ID != first.ID || hash != "hash-1" {
			t.Fatalf("repeat: %v, %q, %v; want message %s and hash-1", again, hash, err, first.ID)
		}
		msgs, _, err := s.Messages(ctx, "acme", "c1", "", 10)
		if err != nil || len(msgs) != 2 { // the inbound one and m1
			t.Fatalf("messages %d, %v; want 2", len(msgs), err)
		}
		byKey, hash, err := s.OutboundByIdempotencyKey(ctx, "acme", "u1", "key-1")
		if err != nil || byKey.ID != "m1" || hash != "hash-1" {
			t.Fatalf("by key: %v, %q, %v", byKey, hash, err)
		}
		if _, _, err := s.OutboundByIdempotencyKey(ctx, "acme", "u2", "key-1"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another user's key: %v, want not found", err)
		}

		// The key used in another conversation returns the first too.
		prev, _, err := s.PutOutbound(ctx, outboundMessage("acme", "c2", "m3", at), "key-1", "hash-3", applyReply(at))
		if err != nil || prev.ID != "m1" {
			t.Errorf("key reused in c2: %v, %v, want m1", prev, err)
		}
		// apply refusing stores nothing.
		refuse := apperr.E(apperr.WindowClosed, "closed")
		_, _, err = s.PutOutbound(ctx, outboundMessage("acme", "c2", "m4", at), "key-4", "hash-4", func(*inbox.Conversation) error { return refuse })
		if !errors.Is(err, refuse) {
			t.Errorf("refused apply: %v", err)
		}
		if _, err := s.Message(ctx, "acme", "c2", at, "m4"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("refused message stored: %v", err)
		}
		if _, _, err := s.OutboundByIdempotencyKey(ctx, "acme", "u1", "key-4"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("refused key stored: %v", err)
		}
		// Another org's conversation is not found.
		_, _, err = s.PutOutbound(ctx, outboundMessage("other", "c1", "m5", at), "", "", applyReply(at))
		if !apperr.Is(err, apperr.NotFound) {
			t.Errorf("other org: %v, want not found", err)
		}
	})
}

func TestOutboundLifecycle(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		inboundConversation(t, s, "acme", "c1")
		at := outNow.Add(time.Minute)
		put := func(id string) *inbox.Message {
			t.Helper()
			m, _, err := s.PutOutbound(ctx, outboundMessage("acme", "c1", id, at), "", "", applyReply(at))
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		get := func(m *inbox.Message) *inbox.Message {
			t.Helper()
			got, err := s.Message(ctx, "acme", "c1", at, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		attemptOf := func(m *inbox.Message) *inbox.SendAttempt {
			t.Helper()
			var seen *inbox.SendAttempt
			stop := errors.New("look only")
			err := s.UpdateSendAttempt(ctx, "acme", "c1", at, m.ID, func(_ *inbox.Message, cur *inbox.SendAttempt) (*inbox.SendAttempt, error) {
				seen = cur
				return nil, stop
			})
			if !errors.Is(err, stop) {
				t.Fatal(err)
			}
			return seen
		}
		claim := func(m *inbox.Message) {
			t.Helper()
			err := s.UpdateSendAttempt(ctx, "acme", "c1", at, m.ID, func(*inbox.Message, *inbox.SendAttempt) (*inbox.SendAttempt, error) {
				return &inbox.SendAttempt{ID: "try-1", StartedAt: at}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		t.Run("statuses before RecordSent wait and apply", func(t *testing.T) {
			m := put("m-early")
			claim(m)
			for _, st := range []inbox.Status{inbox.StatusDelivered, inbox.StatusSent} {
				applied, err := s.ApplyStatus(ctx, "acme", nil, inbox.StatusUpdate{WAMID: "wamid.early", Status: st, Timestamp: at.Add(2 * time.Second)})
				if err != nil || applied {
					t.Fatalf("early %s: applied %v, %v; want kept pending", st, applied, err)
				}
			}
			// The attempt survives status updates of other kinds.
			if a := attemptOf(m); a == nil || a.ID != "try-1" {
				t.Fatalf("attempt %+v, want try-1", a)
			}
			if err := s.RecordSent(ctx, "acme", "c1", at, m.ID, "wamid.early", at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			got := get(m)
			if got.Status != inbox.StatusDelivered || got.WAMID != "wamid.early" || got.Delivered == nil {
				t.Errorf("after RecordSent: status %s wamid %q delivered %v", got.Status, got.WAMID, got.Delivered)
			}
			if a := attemptOf(m); a != nil {
				t.Errorf("attempt %+v left after RecordSent", a)
			}
			applied, err := s.ApplyStatus(ctx, "acme", nil, inbox.StatusUpdate{WAMID: "wamid.early", Status: inbox.StatusRead, Timestamp: at.Add(3 * time.Second)})
			if err != nil || !applied || get(m).Status != inbox.StatusRead {
				t.Errorf("read after RecordSent: applied %v, %v, status %s", applied, err, get(m).Status)
			}
			// A failure after WhatsApp took the message changes nothing.
			if err := s.FailOutbound(ctx, "acme", "c1", at, m.ID, at, inbox.MessageError{Message: "late"}); err != nil {
				t.Fatal(err)
			}
			if got := get(m); got.Status != inbox.StatusRead || len(got.Errors) != 0 {
				t.Errorf("FailOutbound after sent: status %s errors %+v", got.Status, got.Errors)
			}
		})

		t.Run("FailOutbound clears the attempt", func(t *testing.T) {
			m := put("m-fail")
			claim(m)
			reason := inbox.MessageError{Code: 131047, Message: "closed"}
			if err := s.FailOutbound(ctx, "acme", "c1", at, m.ID, at.Add(time.Second), reason); err != nil {
				t.Fatal(err)
			}
			got := get(m)
			if got.Status != inbox.StatusFailed || len(got.Errors) != 1 || got.Errors[0] != reason {
				t.Errorf("status %s errors %+v", got.Status, got.Errors)
			}
			if a := attemptOf(m); a != nil {
				t.Errorf("attempt %+v left after FailOutbound", a)
			}
		})

		t.Run("unknown message", func(t *testing.T) {
			err := s.UpdateSendAttempt(ctx, "acme", "c1", at, "nope", func(*inbox.Message, *inbox.SendAttempt) (*inbox.SendAttempt, error) { return nil, nil })
			if !apperr.Is(err, apperr.NotFound) {
				t.Errorf("err %v, want not found", err)
			}
		})
	})
}

// A status that names a wamid before any message has it waits on the
// wamid's key, which is also an inbound message's dedup claim: an inbound
// message that then comes with that wamid is stored, not taken for a
// duplicate, and its duplicates still are.
func TestInboundAfterAStatusWaitingOnItsWamid(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		const wamid = "wamid.in.c1"
		applied, err := s.ApplyStatus(ctx, "acme", nil, inbox.StatusUpdate{WAMID: wamid, Status: inbox.StatusDelivered, Timestamp: outNow})
		if err != nil || applied {
			t.Fatalf("status before any message: applied %v, %v; want it kept waiting", applied, err)
		}
		conv := &inbox.Conversation{Org: "acme", ID: "c1", IntegrationID: "int", PhoneNumberID: "pn",
			Customer: inbox.Customer{WaID: "15550001111"}, Record: inbox.RecordRef{Module: records.Leads, ID: "rec"}, CreatedAt: outNow}
		in := &inbox.Message{Org: "acme", ConversationID: "c1", ID: wamid, WAMID: wamid, Direction: inbox.Inbound,
			Type: "text", Text: "hola", Timestamp: outNow, Status: inbox.StatusReceived}
		save := func() bool {
			t.Helper()
			dup, err := s.SaveInbound(ctx, conv, in, func(c *inbox.Conversation) { c.ApplyInbound(in, true) })
			if err != nil {
				t.Fatal(err)
			}
			return dup
		}
		if save() {
			t.Fatal("the inbound message was taken for a duplicate of the waiting status")
		}
		if seen, err := s.SeenMessage(ctx, "acme", wamid); err != nil || !seen {
			t.Errorf("SeenMessage = %v, %v; want true", seen, err)
		}
		if !save() {
			t.Error("the same message again was not a duplicate")
		}
		msgs, _, err := s.Messages(ctx, "acme", "c1", "", 10)
		if err != nil || len(msgs) != 1 || msgs[0].Status != inbox.StatusReceived {
			t.Fatalf("messages %+v, %v; want the inbound one, received", msgs, err)
		}
		// A status for it now is ignored: statuses describe our messages only.
		if applied, err := s.ApplyStatus(ctx, "acme", nil, inbox.StatusUpdate{WAMID: wamid, Status: inbox.StatusRead, Timestamp: outNow}); err != nil || applied {
			t.Errorf("status of an inbound message: applied %v, %v; want ignored", applied, err)
		}
	})
}
