package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/local/timer"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// firings collects what the timer fires (the schedule queue's messages).
type firings struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (q *firings) Send(_ context.Context, msgs ...queue.Outgoing) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.bodies = append(q.bodies, m.Body)
	}
	return nil
}

func (q *firings) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.bodies
	q.bodies = nil
	return out
}

// recordingPusher keeps every pushed event.
type recordingPusher struct {
	mu     sync.Mutex
	events []notify.Event
}

func (p *recordingPusher) Push(_ context.Context, evs []notify.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, evs...)
	return nil
}

func (p *recordingPusher) take() []notify.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.events
	p.events = nil
	return out
}

// flow is a harness on bolt whose change stream is followed by the notify
// and push consumers each time the test calls settle.
type flow struct {
	*harness
	timer     *timer.Timer
	fired     *firings
	pushed    *recordingPusher
	runner    *changes.Runner
	consumers []changes.Consumer
}

func newFlow(t *testing.T) *flow {
	t.Helper()
	tbl := storagetest.Bolt(t)
	f := &flow{fired: &firings{}, pushed: &recordingPusher{}}
	f.harness = newHarness(t, tbl)
	tm, err := timer.Open(f.fired, timer.Options{Path: filepath.Join(t.TempDir(), "timer.db"), Now: func() time.Time { return f.Now }, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tm.Close() })
	f.timer = tm
	f.App.Notify.Schedules = tm
	f.runner = &changes.Runner{Stream: tbl.(changes.Stream), DeadLetter: memqueue.New("changes-dlq", memqueue.Options{}), Log: quietLog,
		Backoff: func(int) time.Duration { return time.Millisecond }}
	f.consumers = []changes.Consumer{f.App.NotifyConsumer(), f.App.PushConsumer(f.pushed)}
	return f
}

// settle runs the consumers until the stream has nothing new for them.
func (f *flow) settle() {
	f.t.Helper()
	for {
		n := 0
		for _, c := range f.consumers {
			read, err := f.runner.Poll(context.Background(), c)
			if err != nil {
				f.t.Fatal(err)
			}
			n += read
		}
		if n == 0 {
			return
		}
	}
}

// advance moves the clock and fires the schedules that came due, through
// the persisted timer and the schedule dispatcher, as the local stack does.
func (f *flow) advance(d time.Duration) {
	f.t.Helper()
	f.Now = f.Now.Add(d)
	for {
		if _, err := f.timer.Fire(context.Background()); err != nil {
			f.t.Fatal(err)
		}
		due := f.fired.take()
		if len(due) == 0 {
			return
		}
		for _, body := range due {
			if err := f.App.Schedules.Handle(context.Background(), body); err != nil {
				f.t.Fatal(err)
			}
			f.settle()
		}
	}
}

type feed struct {
	Items []struct {
		ID             string `json:"id"`
		ConversationID string `json:"conversationId"`
		From           string `json:"from"`
		Preview        string `json:"preview"`
		Count          int    `json:"count"`
		State          string `json:"state"`
		Read           bool   `json:"read"`
		Reminder       bool   `json:"reminder"`
		WindowClosing  bool   `json:"windowClosing"`
	} `json:"items"`
	Cursor      string `json:"cursor"`
	UnreadCount int    `json:"unreadCount"`
}

func (f *flow) feed(user, query string) feed {
	f.t.Helper()
	var out feed
	if s := f.do(user, "GET", "/v1/notifications"+query, nil, &out); s != http.StatusOK {
		f.t.Fatalf("feed of %s: %d", user, s)
	}
	return out
}

func types(evs []notify.Event, user string) []notify.EventType {
	var out []notify.EventType
	for _, ev := range evs {
		if ev.UserID == user {
			out = append(out, ev.Type)
		}
	}
	return out
}

// owner of the only conversation (the assignment rule picks sam or lee).
func (f *flow) onlyConversation() (id, owner, other string) {
	f.t.Helper()
	var page struct {
		Items []struct{ ID, OwnerID string }
	}
	f.do("u-admin", "GET", "/v1/conversations", nil, &page)
	if len(page.Items) != 1 {
		f.t.Fatalf("conversations: %+v", page)
	}
	other = "u-lee"
	if page.Items[0].OwnerID == "u-lee" {
		other = "u-sam"
	}
	return page.Items[0].ID, page.Items[0].OwnerID, other
}

func TestNotificationFlow(t *testing.T) {
	f := newFlow(t)
	// Three messages, each delivered twice and the second before the first.
	f.customerWrites("15551234567", "Ana Díaz", "wamid.1", "Hola")
	f.settle()
	conv, owner, other := f.onlyConversation()
	f.customerWrites("15551234567", "Ana Díaz", "wamid.3", "¿Precio?")
	f.customerWrites("15551234567", "Ana Díaz", "wamid.2", "Quiero un presupuesto")
	f.customerWrites("15551234567", "Ana Díaz", "wamid.1", "Hola")
	f.customerWrites("15551234567", "Ana Díaz", "wamid.3", "¿Precio?")
	f.settle()
	f.settle() // a change seen again changes nothing

	got := f.feed(owner, "")
	if len(got.Items) != 1 || got.Items[0].Count != 3 || got.Items[0].From != "Ana Díaz" || got.Items[0].ConversationID != conv || got.UnreadCount != 1 {
		t.Fatalf("owner's feed: %+v", got)
	}
	id := got.Items[0].ID
	if want := []notify.EventType{notify.NotificationRaised, notify.NotificationUpdated, notify.NotificationUpdated}; !slices.Equal(types(f.pushed.take(), owner), want) {
		t.Fatalf("owner's events: want %v", want)
	}

	// Another user sees none of it and cannot touch it.
	if g := f.feed(other, "?state=all"); len(g.Items) != 0 || g.UnreadCount != 0 {
		t.Fatalf("%s sees %+v", other, g)
	}
	for _, path := range []string{"/v1/notifications/" + id + "/dismiss", "/v1/notifications/" + id + "/snooze"} {
		if s := f.do(other, "POST", path, map[string]any{"minutes": 15}, nil); s != http.StatusNotFound {
			t.Fatalf("%s %s: %d, want 404", other, path, s)
		}
	}
	if s := f.do("u-eve", "POST", "/v1/notifications/"+id+"/dismiss", nil, nil); s != http.StatusNotFound {
		t.Fatalf("another org: %d", s)
	}

	// Snooze: only 15 or 60.
	for _, m := range []any{0, 30, 61, "15"} {
		var e apiError
		s := f.do(owner, "POST", "/v1/notifications/"+id+"/snooze", map[string]any{"minutes": m}, &e)
		if s != http.StatusUnprocessableEntity && s != http.StatusBadRequest {
			t.Fatalf("snooze %v: %d %+v", m, s, e)
		}
	}
	if s := f.do(owner, "POST", "/v1/notifications/"+id+"/snooze", map[string]any{"minutes": 15}, nil); s != http.StatusOK {
		t.Fatalf("snooze: %d", s)
	}
	f.settle()
	if g := f.feed(owner, ""); len(g.Items) != 0 {
		t.Fatalf("snoozed but active: %+v", g)
	}
	if g := f.feed(owner, "?state=snoozed"); len(g.Items) != 1 {
		t.Fatalf("snoozed list: %+v", g)
	}
	// Snoozing again moves the reminder: 15 minutes pass, nothing; at 60 it is back.
	if s := f.do(owner, "POST", "/v1/notifications/"+id+"/snooze", map[string]any{"minutes": 60}, nil); s != http.StatusOK {
		t.Fatalf("snooze again: %d", s)
	}
	f.settle()
	f.pushed.take()
	f.advance(16 * time.Minute)
	if g := f.feed(owner, "?state=snoozed"); len(g.Items) != 1 {
		t.Fatalf("the moved reminder fired early: %+v", g)
	}
	// A fourth message while snoozed counts.
	f.customerWrites("15551234567", "Ana Díaz", "wamid.4", "¿Hola?")
	f.settle()
	f.advance(45 * time.Minute)
	g := f.feed(owner, "")
	if len(g.Items) != 1 || !g.Items[0].Reminder || g.Items[0].Count != 4 || g.Items[0].State != "active" {
		t.Fatalf("after the reminder: %+v", g)
	}
	if evs := types(f.pushed.take(), owner); !slices.Contains(evs, notify.NotificationReminded) {
		t.Fatalf("no reminded event: %v", evs)
	}
	f.advance(2 * time.Hour) // fires once
	if evs := types(f.pushed.take(), owner); slices.Contains(evs, notify.NotificationReminded) {
		t.Fatalf("reminded twice: %v", evs)
	}

	// Dismiss: closed, its reminder gone; the next message opens a new one.
	f.do(owner, "POST", "/v1/notifications/"+id+"/snooze", map[string]any{"minutes": 15}, nil)
	f.settle()
	if s := f.do(owner, "POST", "/v1/notifications/"+id+"/dismiss", nil, nil); s != http.StatusOK {
		t.Fatalf("dismiss: %d", s)
	}
	f.settle()
	f.advance(20 * time.Minute)
	if evs := types(f.pushed.take(), owner); slices.Contains(evs, notify.NotificationReminded) {
		t.Fatalf("the dismissed notification's reminder fired: %v", evs)
	}
	if g := f.feed(owner, ""); len(g.Items) != 0 {
		t.Fatalf("dismissed but active: %+v", g)
	}
	if g := f.feed(owner, "?state=all"); len(g.Items) != 1 || g.Items[0].State != "dismissed" {
		t.Fatalf("all: %+v", g)
	}
	f.customerWrites("15551234567", "Ana Díaz", "wamid.5", "¿?")
	f.settle()
	g = f.feed(owner, "")
	if len(g.Items) != 1 || g.Items[0].ID == id || g.Items[0].Count != 1 {
		t.Fatalf("after a dismissal: %+v", g)
	}

	// Reading the conversation: unread to zero, notification seen.
	var c struct{ UnreadCount int }
	if s := f.do(other, "POST", "/v1/conversations/"+conv+"/read", nil, &c); s != http.StatusOK || c.UnreadCount != 0 {
		t.Fatalf("read conversation: %d %+v", s, c)
	}
	f.settle()
	if g := f.feed(owner, ""); len(g.Items) != 1 || !g.Items[0].Read || g.UnreadCount != 0 {
		t.Fatalf("after reading the conversation: %+v", g)
	}
	if s := f.do("u-eve", "POST", "/v1/conversations/"+conv+"/read", nil, nil); s != http.StatusNotFound {
		t.Fatalf("another org reads: %d", s)
	}
}

func TestReadAllNotifications(t *testing.T) {
	f := newFlow(t)
	for i, wa := range []string{"15550000001", "15550000002", "15550000003"} {
		f.customerWrites(wa, "C", "wamid.r"+string(rune('a'+i)), "hi")
	}
	f.settle()
	total := 0
	for _, u := range []string{"u-sam", "u-lee"} {
		g := f.feed(u, "")
		total += g.UnreadCount
		var res struct{ Marked int }
		if s := f.do(u, "POST", "/v1/notifications/read", nil, &res); s != http.StatusOK || res.Marked != g.UnreadCount {
			t.Fatalf("%s read all: %d %+v (had %d)", u, s, res, g.UnreadCount)
		}
		if g := f.feed(u, ""); g.UnreadCount != 0 {
			t.Fatalf("%s unread after read all: %+v", u, g)
		}
	}
	if total != 3 {
		t.Fatalf("3 conversations gave %d notifications", total)
	}
}

func TestOwnerChangeNotifiesTheNewOwner(t *testing.T) {
	f := newFlow(t)
	f.customerWrites("15551234567", "Ana", "wamid.o1", "hi")
	f.settle()
	conv, owner, other := f.onlyConversation()
	var rec struct {
		Record struct{ Module, ID string }
	}
	f.do(owner, "GET", "/v1/conversations/"+conv, nil, &rec)
	if s := f.do(owner, "PATCH", "/v1/records/"+rec.Record.Module+"/"+rec.Record.ID, map[string]any{"ownerId": other}, nil); s != http.StatusOK {
		t.Fatalf("owner change: %d", s)
	}
	f.settle()
	f.customerWrites("15551234567", "Ana", "wamid.o2", "still there?")
	f.settle()
	if g := f.feed(other, ""); len(g.Items) != 1 || g.Items[0].Count != 1 {
		t.Fatalf("new owner: %+v", g)
	}
	if g := f.feed(owner, "?state=all"); len(g.Items) != 0 {
		t.Fatalf("old owner still has it: %+v", g)
	}
}

func TestWindowSchedule(t *testing.T) {
	f := newFlow(t)
	f.customerWrites("15551111111", "Una", "wamid.w1", "hi")    // stays unanswered
	f.customerWrites("15552222222", "Dos", "wamid.w2", "hello") // gets a reply
	f.settle()
	var page struct {
		Items []struct {
			ID, OwnerID string
			Customer    struct{ WaID string }
		}
	}
	f.do("u-admin", "GET", "/v1/conversations", nil, &page)
	var unanswered, answered, unansweredOwner string
	for _, c := range page.Items {
		if c.Customer.WaID == "15551111111" {
			unanswered, unansweredOwner = c.ID, c.OwnerID
		} else {
			answered = c.ID
		}
	}
	if s := f.do("u-sam", "POST", "/v1/conversations/"+answered+"/messages", map[string]any{"text": "Hi!"}, nil); s != http.StatusAccepted {
		t.Fatalf("reply: %d", s)
	}
	f.settle()
	f.pushed.take()

	// Halfway, the customer writes again: the window moves.
	f.advance(12 * time.Hour)
	var before struct{ Window struct{ ExpiresAt time.Time } }
	f.do("u-sam", "GET", "/v1/conversations/"+unanswered, nil, &before)
	f.customerWrites("15551111111", "Una", "wamid.w3", "anyone?")
	f.settle()
	f.pushed.take()

	// The answered conversation's window closes, marked but not pushed:
	// nobody is waiting. The unanswered one was extended: nothing yet.
	f.advance(12*time.Hour + time.Minute)
	if evs := f.pushed.take(); len(evs) != 0 {
		t.Fatalf("events at the first window's close: %+v", evs)
	}
	var c struct {
		WindowClosedAt *time.Time
		Window         struct{ Open bool }
	}
	f.do("u-sam", "GET", "/v1/conversations/"+answered, nil, &c)
	if c.WindowClosedAt == nil || c.Window.Open {
		t.Fatalf("answered conversation after its close: %+v", c)
	}
	// A stale firing (the old window of the extended conversation) does nothing.
	stale := fmt.Sprintf(`{"name":"x","kind":"notify.window","at":%q,"data":{"org":"acme","conversationId":%q,"phase":"close","closesAt":%q}}`,
		before.Window.ExpiresAt.Format(time.RFC3339), unanswered, before.Window.ExpiresAt.Format(time.RFC3339))
	if err := f.App.Schedules.Handle(context.Background(), []byte(stale)); err != nil {
		t.Fatal(err)
	}
	f.settle()
	if evs := f.pushed.take(); len(evs) != 0 {
		t.Fatalf("a stale firing pushed %+v", evs)
	}

	f.advance(11 * time.Hour) // an hour before the moved window closes
	evs := f.pushed.take()
	closing := 0
	for _, ev := range evs {
		if ev.Type == notify.ConversationClosing && ev.ConversationID == unanswered {
			closing++
		}
	}
	if closing != 1 {
		t.Fatalf("window closing events %+v", evs)
	}
	if g := f.feed(unansweredOwner, ""); len(g.Items) != 1 || !g.Items[0].WindowClosing {
		t.Fatalf("owner's feed before the close: %+v", g)
	}
	f.advance(time.Hour)
	var closed []string
	for _, ev := range f.pushed.take() {
		if ev.Type == notify.ConversationClosed {
			closed = append(closed, ev.ConversationID)
		}
	}
	if !slices.Equal(closed, []string{unanswered}) {
		t.Fatalf("closed: %v, want the unanswered conversation", closed)
	}
	f.do("u-sam", "GET", "/v1/conversations/"+unanswered, nil, &c)
	if c.WindowClosedAt == nil || c.Window.Open {
		t.Fatalf("conversation after the close: %+v", c)
	}
}

// raiseNotification gives the conversation's owner a notification the way
// the notify consumer does, without following the change stream (which
// DynamoDB Local delivers with a delay), and returns its id.
func raiseNotification(t *testing.T, h *harness, conversationID string) string {
	t.Helper()
	ctx := context.Background()
	c, err := h.App.Store.Conversation(ctx, "acme", conversationID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.App.Store.UpdateNotification(ctx, "acme", conversationID, func(n *notify.Notification) error {
		notify.ApplyConversation(n, &notify.Conversation{Conversation: *c, Version: 1}, h.Now)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}
