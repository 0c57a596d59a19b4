package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	sdkscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/aws/dynamostream"
	"github.com/wacrm/wacrm/shared/aws/scheduler"
	"github.com/wacrm/wacrm/shared/aws/wsapi"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/records"
)

// eventBridge stands in for EventBridge Scheduler: it keeps each schedule's
// expression and input (what it would deliver), as the real one answers.
type eventBridge struct {
	mu        sync.Mutex
	schedules map[string][2]string // name -> expression, input
	deleted   []string
}

func (f *eventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.TrimPrefix(r.URL.Path, "/schedules/")
	var body struct {
		ScheduleExpression string
		Target             struct{ Input string }
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	_, exists := f.schedules[name]
	fail := func(status int, typ string) {
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"Message":"` + typ + `"}`))
	}
	switch {
	case r.Method == http.MethodPost && exists:
		fail(409, "ConflictException")
		return
	case (r.Method == http.MethodPut || r.Method == http.MethodDelete) && !exists:
		fail(404, "ResourceNotFoundException")
		return
	case r.Method == http.MethodDelete:
		delete(f.schedules, name)
		f.deleted = append(f.deleted, name)
	default:
		f.schedules[name] = [2]string{body.ScheduleExpression, body.Target.Input}
	}
	_, _ = w.Write([]byte(`{"ScheduleArn":"arn:aws:scheduler:us-east-1:123456789012:schedule/wacrm-Test/` + name + `"}`))
}

func (f *eventBridge) get(name string) (expr, input string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.schedules[name]
	return s[0], s[1], ok
}

func (f *eventBridge) wasDeleted(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.deleted, name)
}

// gateway stands in for the WebSocket API's management endpoint, keeping
// what was posted to each connection.
type gateway struct {
	mu    sync.Mutex
	posts map[string][]map[string]any
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/live/@connections/"))
	var ev map[string]any
	raw, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || json.Unmarshal(raw, &ev) != nil {
		http.Error(w, "bad request", 400)
		return
	}
	g.mu.Lock()
	g.posts[id] = append(g.posts[id], ev)
	g.mu.Unlock()
}

func (g *gateway) types(conn, prefix string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, ev := range g.posts[conn] {
		if typ := ev["type"].(string); strings.HasPrefix(typ, prefix) {
			out = append(out, typ)
		}
	}
	return out
}

func (g *gateway) last(conn, typ string) map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.posts[conn]) - 1; i >= 0; i-- {
		if g.posts[conn][i]["type"] == typ {
			return g.posts[conn][i]
		}
	}
	return nil
}

// TestNotificationsOnAWSAdapters runs the notification flow on the AWS
// adapters: DynamoDB Local and its Streams API feed the notify and push
// consumers, reminders go through the EventBridge Scheduler adapter, and
// events through the management-API pusher.
func TestNotificationsOnAWSAdapters(t *testing.T) {
	ctx := context.Background()
	client := dynamotest.Client(t)
	name := dynamotest.CreateTable(t, client)
	arn, err := dynamostream.StreamARN(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	creds := credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")

	eb := &eventBridge{schedules: map[string][2]string{}}
	ebSrv := httptest.NewServer(eb)
	defer ebSrv.Close()
	schedules := scheduler.New(sdkscheduler.New(sdkscheduler.Options{Region: "us-east-1", BaseEndpoint: aws.String(ebSrv.URL), Credentials: creds}),
		scheduler.Config{Group: "wacrm-Test", QueueARN: "arn:aws:sqs:us-east-1:123456789012:Schedule",
			RoleARN: "arn:aws:iam::123456789012:role/Scheduler", DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:ScheduleDLQ"},
		memqueue.New("schedule", memqueue.Options{})).WithClock(clock)
	gw := &gateway{posts: map[string][]map[string]any{}}
	gwSrv := httptest.NewServer(gw)
	defer gwSrv.Close()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := app.New(app.Adapters{Table: dynamo.New(client, name), Schedules: schedules, Log: log, Now: clock})
	pusher := &wsapi.Pusher{Log: log, Conns: a.Store, API: apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(gwSrv.URL + "/live"), Credentials: creds})}
	runner := &changes.Runner{Stream: dynamostream.New(dynamotest.StreamsClient(t), arn, &dynamostream.MemoryPositions{}),
		DeadLetter: memqueue.New("changes-dlq", memqueue.Options{}), Log: log, Backoff: func(int) time.Duration { return 10 * time.Millisecond }}
	consumers := []changes.Consumer{a.NotifyConsumer(), a.PushConsumer(pusher)}
	// until follows the stream (DynamoDB Local's is not instant) until cond holds.
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (sam got %v)", what, gw.types("sam=", ""))
			}
			for _, c := range consumers {
				if _, err := runner.Poll(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	sam := auth.Principal{UserID: "u-sam", Org: "acme"}
	for _, p := range []auth.Principal{sam, {UserID: "u-lee", Org: "acme"}} {
		if err := a.Store.UpsertUser(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Store.CreateIntegration(ctx, &integration.Integration{ID: "int-acme", Org: "acme", Nickname: "Sales",
		PhoneNumberID: "100000000000001", WABAID: "200", Active: true, CreatedAt: now, UpdatedAt: now,
		Preferences: integration.Preferences{UnknownSenders: records.Leads,
			Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-sam"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []notify.Connection{{ID: "sam=", Org: "acme", UserID: "u-sam"}, {ID: "lee=", Org: "acme", UserID: "u-lee"}} {
		if err := a.Store.SaveWebSocket(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Three messages, with Meta's duplicates, out of order.
	for _, wamid := range []string{"wamid.aws.1", "wamid.aws.3", "wamid.aws.2", "wamid.aws.1", "wamid.aws.3"} {
		body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"200","changes":[{"field":"messages","value":{
			"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"100000000000001"},
			"contacts":[{"wa_id":"15551234567","profile":{"name":"Ana"}}],
			"messages":[{"from":"15551234567","id":%q,"timestamp":"%d","type":"text","text":{"body":"hola"}}]}}]}]}`, wamid, now.Unix())
		if err := a.Intake.HandleBody(ctx, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	until("the notification at a count of 3", func() bool {
		ev := gw.last("sam=", "notification.updated")
		return ev != nil && ev["count"] == 3.0
	})
	if got := gw.types("sam=", "notification."); !slices.Equal(got, []string{"notification.raised", "notification.updated", "notification.updated"}) {
		t.Fatalf("sam's notification events %v", got)
	}
	id := gw.last("sam=", "notification.raised")["notificationId"].(string)
	conv := gw.last("sam=", "notification.raised")["conversationId"].(string)
	until("lee sees the messages", func() bool { return len(gw.types("lee=", "message.received")) == 3 })
	if got := gw.types("lee=", "notification."); len(got) != 0 {
		t.Fatalf("lee got sam's notification: %v", got)
	}

	// Snooze: an EventBridge at(...) schedule; snoozing again moves it.
	remind := notify.ReminderName("acme", conv)
	if _, err := a.Notify.Snooze(ctx, sam, id, 15); err != nil {
		t.Fatal(err)
	}
	until("the reminder schedule", func() bool {
		expr, _, ok := eb.get(remind)
		return ok && expr == scheduler.Expression(now.Add(15*time.Minute))
	})
	if _, err := a.Notify.Snooze(ctx, sam, id, 60); err != nil {
		t.Fatal(err)
	}
	until("the reminder moved", func() bool { expr, _, _ := eb.get(remind); return expr == scheduler.Expression(now.Add(time.Hour)) })

	// EventBridge delivers it (to the schedule queue, whose function hands it to notify).
	_, input, _ := eb.get(remind)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if err := a.Schedules.Handle(ctx, []byte(input)); err != nil {
		t.Fatal(err)
	}
	until("the reminder pushed", func() bool { return gw.last("sam=", "notification.reminded") != nil })
	if err := a.Schedules.Handle(ctx, []byte(input)); err != nil { // delivered again: nothing more
		t.Fatal(err)
	}

	// Dismissing a snoozed notification deletes its schedule.
	if _, err := a.Notify.Snooze(ctx, sam, id, 15); err != nil {
		t.Fatal(err)
	}
	until("the new reminder", func() bool { _, _, ok := eb.get(remind); return ok })
	if _, err := a.Notify.Dismiss(ctx, sam, id); err != nil {
		t.Fatal(err)
	}
	until("the reminder deleted and the dismissal pushed", func() bool {
		return eb.wasDeleted(remind) && gw.last("sam=", "notification.dismissed") != nil
	})
	if n := len(gw.types("sam=", "notification.reminded")); n != 1 {
		t.Fatalf("reminded %d times", n)
	}
	// The conversation's window schedule is set for its warning.
	if expr, _, ok := eb.get(notify.WindowName("acme", conv)); !ok || expr != scheduler.Expression(time.Unix(now.Add(-time.Hour).Unix(), 0).Add(23*time.Hour)) {
		t.Fatalf("window schedule %q %v", expr, ok)
	}
}
