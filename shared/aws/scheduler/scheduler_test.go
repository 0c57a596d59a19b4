package scheduler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/schedule"
	"github.com/wacrm/wacrm/shared/schedule/scheduletest"
)

// request is one request the SDK sent, as the fake server saw it.
type request struct {
	Method, Path string
	Query        map[string]string
	Body         map[string]any
	Auth         string
}

// fakeScheduler answers like EventBridge Scheduler: it keeps the schedules
// of one group and records every request.
type fakeScheduler struct {
	mu        sync.Mutex
	requests  []request
	schedules map[string]bool
	inputs    map[string]string // the firing each schedule will send (Target.Input)
}

func (f *fakeScheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	req := request{Method: r.Method, Path: r.URL.Path, Query: map[string]string{}, Auth: r.Header.Get("Authorization")}
	for k := range r.URL.Query() {
		req.Query[k] = r.URL.Query().Get(k)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &req.Body); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
	}
	f.requests = append(f.requests, req)
	name := strings.TrimPrefix(r.URL.Path, "/schedules/")
	fail := func(status int, typ string) {
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"Message":"` + typ + `"}`))
	}
	switch r.Method {
	case http.MethodPost:
		if f.schedules[name] {
			fail(409, "ConflictException")
			return
		}
		f.schedules[name] = true
		f.inputs[name], _ = req.Body["Target"].(map[string]any)["Input"].(string)
	case http.MethodPut:
		if !f.schedules[name] {
			fail(404, "ResourceNotFoundException")
			return
		}
		f.inputs[name], _ = req.Body["Target"].(map[string]any)["Input"].(string)
	case http.MethodDelete:
		if !f.schedules[name] {
			fail(404, "ResourceNotFoundException")
			return
		}
		delete(f.schedules, name)
		delete(f.inputs, name)
	}
	_, _ = w.Write([]byte(`{"ScheduleArn":"arn:aws:scheduler:us-east-1:123456789012:schedule/wacrm-Wacrm/` + name + `"}`))
}

func (f *fakeScheduler) take() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

type sent struct {
	mu   sync.Mutex
	msgs []queue.Outgoing
}

func (s *sent) Send(_ context.Context, m ...queue.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m...)
	return nil
}

var cfg = Config{
	Group:         "wacrm-Wacrm",
	QueueARN:      "arn:aws:sqs:us-east-1:123456789012:Wacrm-Schedule",
	RoleARN:       "arn:aws:iam::123456789012:role/Wacrm-SchedulerRole",
	DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:Wacrm-ScheduleDLQ",
}

var now = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func newScheduler(t *testing.T) (*Scheduler, *fakeScheduler, *sent) {
	fake := &fakeScheduler{schedules: map[string]bool{}, inputs: map[string]string{}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := sdk.New(sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	out := &sent{}
	return New(client, cfg, out).WithClock(func() time.Time { return now }), fake, out
}

// wantSchedule is the exact body of a CreateSchedule/UpdateSchedule.
func wantSchedule(at, input string) map[string]any {
	return map[string]any{
		"ActionAfterCompletion":      "DELETE",
		"FlexibleTimeWindow":         map[string]any{"Mode": "OFF"},
		"GroupName":                  "wacrm-Wacrm",
		"ScheduleExpression":         "at(" + at + ")",
		"ScheduleExpressionTimezone": "UTC",
		"Target": map[string]any{
			"Arn":              cfg.QueueARN,
			"RoleArn":          cfg.RoleARN,
			"Input":            input,
			"RetryPolicy":      map[string]any{"MaximumRetryAttempts": 185.0, "MaximumEventAgeInSeconds": 86400.0},
			"DeadLetterConfig": map[string]any{"Arn": cfg.DeadLetterARN},
		},
	}
}

func checkBody(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	token, _ := got["ClientToken"].(string)
	if token == "" {
		t.Errorf("%s: no ClientToken (the SDK's idempotency token)", what)
	}
	delete(got, "ClientToken")
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s body:\n got %s\nwant %s", what, g, w)
	}
}

func TestSetCreatesThenMoves(t *testing.T) {
	s, fake, _ := newScheduler(t)
	sc := schedule.Schedule{Name: "remind-acme-n1", At: now.Add(15*time.Minute + 500*time.Millisecond), Kind: "notify.remind", Data: json.RawMessage(`{"id":"n1"}`)}
	if err := s.Set(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	input := `{"name":"remind-acme-n1","kind":"notify.remind","at":"2026-11-28T09:15:00Z","data":{"id":"n1"}}`
	reqs := fake.take()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/schedules/remind-acme-n1" {
		t.Fatalf("create: got %+v", reqs)
	}
	if !strings.HasPrefix(reqs[0].Auth, "AWS4-HMAC-SHA256 Credential=AKID/20") || !strings.Contains(reqs[0].Auth, "/us-east-1/scheduler/aws4_request") {
		t.Errorf("create: not signed for scheduler: %q", reqs[0].Auth)
	}
	checkBody(t, "create", reqs[0].Body, wantSchedule("2026-11-28T09:15:00", input))

	sc.At = now.Add(time.Hour) // snoozed again: the same name moves
	if err := s.Set(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	reqs = fake.take()
	if len(reqs) != 2 || reqs[0].Method != "POST" || reqs[1].Method != "PUT" || reqs[1].Path != "/schedules/remind-acme-n1" {
		t.Fatalf("move: got %+v, want a refused create then an update", reqs)
	}
	checkBody(t, "update", reqs[1].Body, wantSchedule("2026-11-28T10:00:00",
		`{"name":"remind-acme-n1","kind":"notify.remind","at":"2026-11-28T10:00:00Z","data":{"id":"n1"}}`))
}

func TestDelete(t *testing.T) {
	s, fake, _ := newScheduler(t)
	if err := s.Set(t.Context(), schedule.Schedule{Name: "window-acme-c1", At: now.Add(time.Hour), Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	fake.take()
	for range 2 { // the second finds nothing: not an error
		if err := s.Delete(t.Context(), "window-acme-c1"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	reqs := fake.take()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.Method != "DELETE" || r.Path != "/schedules/window-acme-c1" || r.Query["groupName"] != "wacrm-Wacrm" || r.Query["clientToken"] == "" || r.Body != nil {
			t.Errorf("delete request: %+v", r)
		}
	}
}

// A time already past goes straight to the queue, and a pending schedule
// of that name is deleted.
func TestPastTimeSendsNow(t *testing.T) {
	s, fake, out := newScheduler(t)
	if err := s.Set(t.Context(), schedule.Schedule{Name: "w", At: now.Add(time.Hour), Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	fake.take()
	if err := s.Set(t.Context(), schedule.Schedule{Name: "w", At: now.Add(-time.Minute), Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	if len(out.msgs) != 1 || !strings.Contains(string(out.msgs[0].Body), `"at":"2026-11-28T08:59:00Z"`) {
		t.Errorf("sent now: %+v", out.msgs)
	}
	if reqs := fake.take(); len(reqs) != 1 || reqs[0].Method != "DELETE" {
		t.Errorf("requests: %+v, want the pending schedule deleted", reqs)
	}
}

// Invalid schedules never reach the service.
func TestRejectsBeforeCalling(t *testing.T) {
	s, fake, _ := newScheduler(t)
	for _, sc := range []schedule.Schedule{
		{Name: "a b", At: now.Add(time.Hour), Kind: "k"},
		{Name: strings.Repeat("x", 65), At: now.Add(time.Hour), Kind: "k"},
		{Name: "ok", At: now.Add(time.Hour)},
		{Name: "ok", Kind: "k"},
	} {
		if err := s.Set(t.Context(), sc); err == nil {
			t.Errorf("set %q: no error", sc.Name)
		}
	}
	if err := s.Delete(t.Context(), "a/b"); err == nil {
		t.Error("delete a/b: no error")
	}
	if reqs := fake.take(); len(reqs) != 0 {
		t.Errorf("requests sent: %+v", reqs)
	}
}

// The contract every scheduler passes, on what the SDK sent: the fake
// keeps each schedule's target input; a due schedule goes to the queue.
func TestContract(t *testing.T) {
	scheduletest.Run(t, func(t *testing.T) scheduletest.Harness {
		s, fake, out := newScheduler(t)
		return scheduletest.Harness{
			Scheduler: s, Now: now,
			Pending: func(t *testing.T) map[string]schedule.Firing {
				fake.mu.Lock()
				defer fake.mu.Unlock()
				m := map[string]schedule.Firing{}
				for name, in := range fake.inputs {
					var f schedule.Firing
					if err := json.Unmarshal([]byte(in), &f); err != nil {
						t.Fatalf("schedule %s: input %q: %v", name, in, err)
					}
					m[name] = f
				}
				return m
			},
			Delivered: func(t *testing.T) []schedule.Firing {
				out.mu.Lock()
				defer out.mu.Unlock()
				var fs []schedule.Firing
				for _, m := range out.msgs {
					var f schedule.Firing
					if err := json.Unmarshal(m.Body, &f); err != nil {
						t.Fatal(err)
					}
					fs = append(fs, f)
				}
				return fs
			},
		}
	})
}
