package inbox

import (
	"testing"
	"time"
)

func TestMessageStatusRules(t *testing.T) {
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	undeliverable := []MessageError{{Code: 131026, Title: "Message undeliverable"}}
	inDoubt := MessageError{Title: "Not confirmed"}
	status := func(st Status, sec int) func(*Message) bool {
		return func(m *Message) bool {
			var errs []MessageError
			if st == StatusFailed {
				errs = undeliverable
			}
			return m.ApplyStatus(StatusUpdate{WAMID: "w1", Status: st, Timestamp: at.Add(time.Duration(sec) * time.Second), Errors: errs})
		}
	}
	sent := func(wamid string) func(*Message) bool {
		return func(m *Message) bool { ok, _ := m.RecordSent(wamid, at); return ok }
	}
	failSend := func(m *Message) bool { return m.FailSend(at, inDoubt) }

	tests := []struct {
		name        string
		steps       []func(*Message) bool
		wantStatus  Status
		wantWAMID   string
		wantErrors  int
		wantHistory int
	}{
		{"sent, delivered, read", []func(*Message) bool{sent("w1"), status(StatusDelivered, 1), status(StatusRead, 2)}, StatusRead, "w1", 0, 0},
		{"read then failed: read, failure in history", []func(*Message) bool{sent("w1"), status(StatusRead, 2), status(StatusFailed, 3)}, StatusRead, "w1", 0, 1},
		{"failed then read: read, failure in history", []func(*Message) bool{sent("w1"), status(StatusFailed, 2), status(StatusRead, 3)}, StatusRead, "w1", 0, 1},
		{"WhatsApp's failure is not undone by the send recording its wamid", []func(*Message) bool{status(StatusFailed, 2), sent("w1")}, StatusFailed, "w1", 1, 0},
		{"in doubt, then the wamid: sent", []func(*Message) bool{failSend, sent("w1")}, StatusSent, "w1", 0, 1},
		{"in doubt, then a status by the callback data: delivered", []func(*Message) bool{failSend, status(StatusDelivered, 2)}, StatusDelivered, "w1", 0, 1},
		{"in doubt, then WhatsApp's failure: WhatsApp's", []func(*Message) bool{failSend, status(StatusFailed, 2)}, StatusFailed, "w1", 1, 1},
		{"the send path cannot fail what WhatsApp took", []func(*Message) bool{sent("w1"), failSend}, StatusSent, "w1", 0, 0},
		{"a status of another wamid changes nothing", []func(*Message) bool{sent("w2"), status(StatusRead, 2)}, StatusSent, "w2", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{ID: "m1", Direction: Outbound, Status: StatusQueued, StatusAt: at}
			for _, step := range tt.steps {
				step(m)
			}
			if m.Status != tt.wantStatus || m.WAMID != tt.wantWAMID || len(m.Errors) != tt.wantErrors || len(m.History) != tt.wantHistory {
				t.Errorf("status %s wamid %q errors %+v history %+v; want %s %q, %d errors, %d in history",
					m.Status, m.WAMID, m.Errors, m.History, tt.wantStatus, tt.wantWAMID, tt.wantErrors, tt.wantHistory)
			}
			// Applying every step again changes nothing: webhooks repeat.
			for i, step := range tt.steps {
				if step(m) {
					t.Errorf("step %d applied twice changed the message", i)
				}
			}
		})
	}
}

func TestMessageRef(t *testing.T) {
	ref := MessageRef{ConversationID: "conv_1", Timestamp: time.Date(2026, 11, 20, 12, 0, 0, 123456789, time.UTC), ID: "msg_1"}
	got, ok := ParseMessageRef(ref.String())
	if !ok || got != ref {
		t.Errorf("round trip: %+v %v, want %+v", got, ok, ref)
	}
	for _, s := range []string{"", "msg_1", "order-4711", "wacrm1:", "wacrm1:c::m", "wacrm1:c:x:m", "wacrm1:c:1", "wacrm1:c:1:m:extra"} {
		if _, ok := ParseMessageRef(s); ok {
			t.Errorf("ParseMessageRef(%q) accepted", s)
		}
	}
}

func TestAnswerScan(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	in := func(min int) Message {
		return Message{Direction: Inbound, Type: "text", Timestamp: t0.Add(time.Duration(min) * time.Minute)}
	}
	out := func(min int, by string, st Status) Message {
		return Message{Direction: Outbound, Timestamp: t0.Add(time.Duration(min) * time.Minute), SentBy: by, Status: st}
	}
	tp := func(min int) *time.Time { t := t0.Add(time.Duration(min) * time.Minute); return &t }
	tests := []struct {
		name      string
		newest    []Message // newest first
		wantSince *time.Time
		wantBy    string
	}{
		{"answered", []Message{out(2, "u1", StatusRead), in(1)}, nil, "u1"},
		{"the only reply failed", []Message{out(2, "u1", StatusFailed), in(1)}, tp(1), ""},
		{"the latest reply failed, an earlier one stands", []Message{in(4), out(3, "u2", StatusFailed), out(2, "u1", StatusSent), in(1)}, tp(4), "u1"},
		{"system messages do not wait for an answer", []Message{{Direction: Inbound, Type: "system", Timestamp: t0.Add(5 * time.Minute)}, out(2, "u1", StatusFailed), in(1)}, tp(1), ""},
		{"never written", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scan AnswerScan
			for i := range tt.newest {
				if scan.Add(&tt.newest[i]) {
					break
				}
			}
			c := &Conversation{AnsweredBy: "stale"}
			c.SetAnswered(&scan)
			if (c.UnansweredSince == nil) != (tt.wantSince == nil) || (tt.wantSince != nil && !c.UnansweredSince.Equal(*tt.wantSince)) || c.AnsweredBy != tt.wantBy {
				t.Errorf("unansweredSince %v answeredBy %q, want %v %q", c.UnansweredSince, c.AnsweredBy, tt.wantSince, tt.wantBy)
			}
		})
	}
}
