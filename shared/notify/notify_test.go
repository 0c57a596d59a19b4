package notify_test

import (
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/notify"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// conv is a conversation state at version ver with unread messages.
func conv(ver int64, unread int, owner string) *notify.Conversation {
	return &notify.Conversation{Version: ver, Conversation: inbox.Conversation{
		Org: "acme", ID: "conv_abc", OwnerID: owner, UnreadCount: unread,
		Customer: inbox.Customer{WaID: "15551234567", Name: "Ana"}, LastMessagePreview: "hola",
		Record: inbox.RecordRef{Module: "Leads", ID: "rec_1"},
	}}
}

func TestApplyConversation(t *testing.T) {
	type step struct {
		c         *notify.Conversation
		dismiss   bool
		changed   bool
		wantID    string
		wantCount int
		wantUser  string
		wantRead  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"three messages, one notification counting 3", []step{
			{c: conv(1, 1, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
			{c: conv(2, 2, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam"},
			{c: conv(3, 3, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 3, wantUser: "u-sam"},
		}},
		{"a change seen twice or late changes nothing", []step{
			{c: conv(1, 1, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
			{c: conv(2, 2, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam"},
			{c: conv(2, 2, "u-sam"), changed: false, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam"},
			{c: conv(1, 1, "u-sam"), changed: false, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam"},
		}},
		{"a change without a new message (a reply) writes nothing", []step{
			{c: conv(1, 1, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
			{c: conv(2, 1, "u-sam"), changed: false, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
		}},
		{"opening the conversation restarts the count", []step{
			{c: conv(1, 2, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam"},
			{c: conv(2, 0, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 2, wantUser: "u-sam", wantRead: true},
			{c: conv(3, 1, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
		}},
		{"after a dismissal the next message opens a new notification", []step{
			{c: conv(1, 2, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 0, wantUser: "u-sam", dismiss: true, wantRead: true},
			{c: conv(2, 3, "u-sam"), changed: true, wantID: "ntf_abc_2", wantCount: 1, wantUser: "u-sam"},
		}},
		{"an owner change notifies the new owner on the next message", []step{
			{c: conv(1, 1, "u-sam"), changed: true, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
			{c: conv(2, 1, "u-lee"), changed: false, wantID: "ntf_abc_1", wantCount: 1, wantUser: "u-sam"},
			{c: conv(3, 2, "u-lee"), changed: true, wantID: "ntf_abc_2", wantCount: 1, wantUser: "u-lee"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n notify.Notification
			for i, s := range tt.steps {
				saved := n
				changed := notify.ApplyConversation(&n, s.c, t0)
				if !changed {
					n = saved // the store writes nothing
				}
				if s.dismiss {
					notify.Dismiss(&n, t0)
				}
				if changed != s.changed || n.ID != s.wantID || n.Count != s.wantCount || n.UserID != s.wantUser || n.Read != s.wantRead {
					t.Fatalf("step %d: changed=%v id=%s count=%d user=%s read=%v; want %v %s %d %s %v",
						i, changed, n.ID, n.Count, n.UserID, n.Read, s.changed, s.wantID, s.wantCount, s.wantUser, s.wantRead)
				}
			}
		})
	}
}

func TestParseID(t *testing.T) {
	id := notify.ID("conv_0123456789abcdefghjk", 12)
	conv, seq, err := notify.ParseID(id)
	if err != nil || conv != "conv_0123456789abcdefghjk" || seq != 12 {
		t.Fatalf("ParseID(%s) = %s %d %v", id, conv, seq, err)
	}
	for _, bad := range []string{"", "ntf_", "ntf_abc", "ntf_abc_0", "ntf_abc_x", "conv_abc_1", "ntf__1"} {
		if _, _, err := notify.ParseID(bad); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("ParseID(%q): %v, want not_found", bad, err)
		}
	}
}

func TestSnoozeAndRemind(t *testing.T) {
	n := notify.Notification{ID: "ntf_abc_1", State: notify.Active, Seq: 1}
	for _, m := range []int{0, 1, 30, -15, 61} {
		if _, err := notify.Snooze(&n, m, t0); apperr.CodeOf(err) != apperr.InvalidSnooze {
			t.Errorf("snooze %d: %v, want invalid_snooze", m, err)
		}
	}
	first, err := notify.Snooze(&n, 15, t0)
	if err != nil || !first.Equal(t0.Add(15*time.Minute)) {
		t.Fatal(first, err)
	}
	second, _ := notify.Snooze(&n, 60, t0.Add(time.Minute)) // moves it
	unanswered := &inbox.Conversation{UnansweredSince: &t0}
	if notify.Remind(&n, first, unanswered, second) {
		t.Fatal("the moved reminder's old time fired")
	}
	if !notify.Remind(&n, second, unanswered, second) || n.State != notify.Active || !n.Reminder || n.Read {
		t.Fatalf("reminder: %+v", n)
	}
	if notify.Remind(&n, second, unanswered, second) {
		t.Fatal("a second delivery fired again")
	}

	// Answered meanwhile: no reminder; dismissed.
	notify.Snooze(&n, 15, t0)
	answered := &inbox.Conversation{AnsweredAt: &t0}
	if !notify.Remind(&n, *n.SnoozedUntil, answered, t0) || n.State != notify.Dismissed || n.Reminder {
		t.Fatalf("answered meanwhile: %+v", n)
	}
	if _, err := notify.Snooze(&n, 15, t0); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("snooze a dismissed notification: %v", err)
	}
}

func TestNextWindowFiring(t *testing.T) {
	c := &inbox.Conversation{Org: "acme", ID: "conv_abc", LastInboundAt: t0}
	closes := t0.Add(24 * time.Hour)
	tests := []struct {
		name      string
		warning   time.Duration
		now       time.Time
		wantPhase notify.Phase
		wantWhen  time.Time
	}{
		{"warn an hour before", time.Hour, t0, notify.PhaseWarn, closes.Add(-time.Hour)},
		{"warning off", 0, t0, notify.PhaseClose, closes},
		{"warning time passed: warn now", time.Hour, closes.Add(-30 * time.Minute), notify.PhaseWarn, closes.Add(-30 * time.Minute)},
		{"window closed", time.Hour, closes.Add(time.Minute), notify.PhaseClose, closes},
	}
	for _, tt := range tests {
		f, when, ok := notify.NextWindowFiring(c, tt.warning, tt.now)
		if !ok || f.Phase != tt.wantPhase || !when.Equal(tt.wantWhen) || !f.ClosesAt.Equal(closes) {
			t.Errorf("%s: %+v %s %v", tt.name, f, when, ok)
		}
	}
	if _, _, ok := notify.NextWindowFiring(&inbox.Conversation{}, time.Hour, t0); ok {
		t.Error("a conversation the customer never wrote has no window")
	}
}

func TestEvents(t *testing.T) {
	var n notify.Notification
	notify.ApplyConversation(&n, conv(1, 1, "u-sam"), t0)
	if ev := notify.NotificationEvents(nil, &n); len(ev) != 1 || ev[0].Type != notify.NotificationRaised || ev[0].UserID != "u-sam" || ev[0].Count != 1 {
		t.Fatalf("raised: %+v", ev)
	}
	old := n
	notify.ApplyConversation(&n, conv(2, 2, "u-sam"), t0)
	if ev := notify.NotificationEvents(&old, &n); len(ev) != 1 || ev[0].Type != notify.NotificationUpdated || ev[0].Count != 2 {
		t.Fatalf("updated: %+v", ev)
	}
	if ev := notify.NotificationEvents(&n, &n); len(ev) != 0 {
		t.Fatalf("same state twice: %+v", ev)
	}
	old = n
	until, _ := notify.Snooze(&n, 15, t0)
	old2 := n
	notify.Remind(&n, until, &inbox.Conversation{UnansweredSince: &t0}, t0)
	if ev := notify.NotificationEvents(&old2, &n); len(ev) != 1 || ev[0].Type != notify.NotificationReminded {
		t.Fatalf("reminded: %+v", ev)
	}
	old = n
	notify.Dismiss(&n, t0)
	if ev := notify.NotificationEvents(&old, &n); len(ev) != 1 || ev[0].Type != notify.NotificationDismissed {
		t.Fatalf("dismissed: %+v", ev)
	}

	closed := t0
	c0 := inbox.Conversation{Org: "acme", ID: "conv_abc", UnansweredSince: &t0, UnreadCount: 2}
	c1 := c0
	c1.UnansweredSince, c1.UnreadCount = nil, 0
	c1.WindowClosedAt = &closed
	ev := notify.ConversationEvents(&c0, &c1)
	if len(ev) != 2 || ev[0].Type != notify.ConversationAnswered || ev[1].Type != notify.ConversationRead || ev[0].UserID != "" {
		t.Fatalf("conversation: %+v", ev)
	}
	// The close is pushed while the customer waits, not once answered.
	c2 := c0
	c2.WindowClosedAt = &closed
	if ev := notify.ConversationEvents(&c0, &c2); len(ev) != 1 || ev[0].Type != notify.ConversationClosed {
		t.Fatalf("closed unanswered: %+v", ev)
	}

	in := inbox.Message{Org: "acme", ConversationID: "conv_abc", ID: "wamid.1", Direction: inbox.Inbound, Status: inbox.StatusReceived}
	if ev := notify.MessageEvents(nil, &in); len(ev) != 1 || ev[0].Type != notify.MessageReceived {
		t.Fatalf("received: %+v", ev)
	}
	out := inbox.Message{Org: "acme", ConversationID: "conv_abc", ID: "msg_1", Direction: inbox.Outbound, Status: inbox.StatusSent}
	read := out
	read.Status = inbox.StatusRead
	if ev := notify.MessageEvents(&out, &read); len(ev) != 1 || ev[0].Type != notify.MessageStatus || ev[0].Status != inbox.StatusRead {
		t.Fatalf("status: %+v", ev)
	}
	if ev := notify.MessageEvents(&read, &read); len(ev) != 0 {
		t.Fatalf("unchanged status: %+v", ev)
	}
}

// A warning stays up until a message extends the window it was about, even
// when the change of the message before it is applied late.
func TestWindowClosingSurvivesALateChange(t *testing.T) {
	var n notify.Notification
	c := conv(1, 1, "u-sam")
	c.LastInboundAt = t0
	notify.WarnWindowClosing(&n, &c.Conversation, t0.Add(23*time.Hour))
	closes := t0.Add(24 * time.Hour)
	n.WarnedFor = &closes
	notify.ApplyConversation(&n, c, t0.Add(23*time.Hour))
	if !n.WindowClosing {
		t.Fatal("the warning was cleared by the change of the message it was about")
	}
	later := conv(2, 2, "u-sam")
	later.LastInboundAt = t0.Add(23 * time.Hour)
	notify.ApplyConversation(&n, later, t0.Add(23*time.Hour))
	if n.WindowClosing || n.Count != 2 {
		t.Fatalf("a new message extends the window: %+v", n)
	}
}
