package sqs_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	wsqs "github.com/wacrm/wacrm/shared/aws/sqs"
	"github.com/wacrm/wacrm/shared/aws/sqs/sqstest"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/queue/queuetest"
)

func newClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func uniqueName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// newQueue creates a queue with a DLQ and deletes both when the test ends.
func newQueue(t *testing.T, client *sqs.Client, maxReceive int, visibility time.Duration) (url, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	url, dlqURL, err := wsqs.CreateQueueWithDLQ(ctx, client, uniqueName("test"), maxReceive, visibility)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(dlqURL)})
	})
	return url, dlqURL
}

func TestContract(t *testing.T) {
	client := sqstest.Client(t)
	const visibility, maxReceive = time.Second, 3
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		url, dlqURL := newQueue(t, client, maxReceive, visibility)
		poller := wsqs.NewPoller(client, url, wsqs.PollerOptions{WaitTime: time.Second, Concurrency: 2})
		return queuetest.Harness{
			Sender:            wsqs.NewSender(client, url),
			Consume:           poller.Run,
			DrainDeadLetters:  func(ctx context.Context) ([]queue.Message, error) { return drain(ctx, client, dlqURL) },
			VisibilityTimeout: visibility,
			MaxReceiveCount:   maxReceive,
		}
	})
}

// drain receives and deletes what the queue holds.
func drain(ctx context.Context, client *sqs.Client, url string) ([]queue.Message, error) {
	var out []queue.Message
	for {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             1,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil || len(got.Messages) == 0 {
			return out, err
		}
		var entries []types.DeleteMessageBatchRequestEntry
		for i, m := range got.Messages {
			out = append(out, wsqs.FromSQS(m))
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(string(rune('a' + i))), ReceiptHandle: m.ReceiptHandle})
		}
		res, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			return out, err
		}
		if len(res.Failed) > 0 {
			return out, io.ErrUnexpectedEOF
		}
	}
}

// TestRetryDelayMakesFailuresVisibleSooner checks the
// ChangeMessageVisibilityBatch path: with RetryDelay 0 a failed message is
// back long before the 10 s visibility timeout.
func TestRetryDelayMakesFailuresVisibleSooner(t *testing.T) {
	client := sqstest.Client(t)
	url, _ := newQueue(t, client, 5, 10*time.Second)
	if err := wsqs.NewSender(client, url).Send(context.Background(), queue.Outgoing{Body: []byte("retry me")}); err != nil {
		t.Fatal(err)
	}
	poller := wsqs.NewPoller(client, url, wsqs.PollerOptions{
		WaitTime:   time.Second,
		RetryDelay: func(int) time.Duration { return 0 },
	})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var counts []int
	done := make(chan struct{})
	go func() {
		poller.Run(ctx, func(ctx context.Context, batch []queue.Message) []string {
			mu.Lock()
			defer mu.Unlock()
			var failed []string
			for _, m := range batch {
				counts = append(counts, m.ReceiveCount)
				if m.ReceiveCount == 1 {
					failed = append(failed, m.ID)
				}
			}
			return failed
		})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := append([]int(nil), counts...)
		mu.Unlock()
		if len(got) >= 2 {
			if got[0] != 1 || got[1] != 2 {
				t.Errorf("receive counts = %v, want [1 2]", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed message not redelivered within 5 s (visibility timeout 10 s); counts %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPollerUsesTheQueueVisibilityTimeout(t *testing.T) {
	client := sqstest.Client(t)
	url, _ := newQueue(t, client, 5, 2*time.Second)
	if err := wsqs.NewSender(client, url).Send(context.Background(), queue.Outgoing{Body: []byte("deadline")}); err != nil {
		t.Fatal(err)
	}
	poller := wsqs.NewPoller(client, url, wsqs.PollerOptions{WaitTime: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan time.Duration, 1)
	done := make(chan struct{})
	go func() {
		poller.Run(ctx, func(ctx context.Context, batch []queue.Message) []string {
			d, _ := ctx.Deadline()
			select {
			case left <- time.Until(d):
			default:
			}
			return nil
		})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	select {
	case d := <-left:
		if d <= time.Second || d > 2*time.Second {
			t.Errorf("handler deadline in %s, want about the queue's 2 s visibility timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
}

// fakeBatchSQS answers SendMessageBatch with scripted failures and records
// the entry ids of each request. It checks the JSON protocol request the
// SDK sends; failures on SQS's side cannot be provoked on fauxqs.
type fakeBatchSQS struct {
	t        *testing.T
	mu       sync.Mutex
	requests [][]string
	// fail returns, for the n-th request (from 0), the ids to fail and
	// whether it is the sender's fault.
	fail func(n int) (ids []string, senderFault bool)
}

func (f *fakeBatchSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonSQS.SendMessageBatch" {
		f.t.Errorf("X-Amz-Target = %q, want AmazonSQS.SendMessageBatch", got)
		http.Error(w, "unexpected", http.StatusBadRequest)
		return
	}
	var in struct {
		QueueUrl string
		Entries  []struct {
			Id, MessageBody string
			DelaySeconds    int
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.t.Errorf("decode request: %v", err)
		return
	}
	f.mu.Lock()
	n := len(f.requests)
	var ids []string
	for _, e := range in.Entries {
		ids = append(ids, e.Id)
	}
	f.requests = append(f.requests, ids)
	f.mu.Unlock()
	failIDs, senderFault := f.fail(n)
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	var out struct {
		Successful []ok
		Failed     []failed
	}
	for _, e := range in.Entries {
		if strings.Contains(","+strings.Join(failIDs, ",")+",", ","+e.Id+",") {
			out.Failed = append(out.Failed, failed{Id: e.Id, Code: "InternalError", Message: "scripted", SenderFault: senderFault})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: "m-" + e.Id, MD5OfMessageBody: hex.EncodeToString(sum[:])})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

func TestSenderRetriesEntriesSQSFailed(t *testing.T) {
	tests := []struct {
		name         string
		fail         func(n int) ([]string, bool)
		wantRequests [][]string
		wantErr      bool
	}{
		{
			name:         "server fault retried once",
			fail:         func(n int) ([]string, bool) { return map[int][]string{0: {"1"}}[n], false },
			wantRequests: [][]string{{"0", "1", "2"}, {"1"}},
		},
		{
			name:         "server fault that persists",
			fail:         func(n int) ([]string, bool) { return []string{"2"}, false },
			wantRequests: [][]string{{"0", "1", "2"}, {"2"}, {"2"}},
			wantErr:      true,
		},
		{
			name:         "sender fault not retried",
			fail:         func(n int) ([]string, bool) { return []string{"0"}, true },
			wantRequests: [][]string{{"0", "1", "2"}},
			wantErr:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeBatchSQS{t: t, fail: tt.fail}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := wsqs.NewSender(newClient(srv.URL), srv.URL+"/000000000000/q")
			err := s.Send(context.Background(),
				queue.Outgoing{Body: []byte("a")}, queue.Outgoing{Body: []byte("b")}, queue.Outgoing{Body: []byte("c"), Delay: 1500 * time.Millisecond})
			if (err != nil) != tt.wantErr {
				t.Errorf("Send error = %v, want error: %v", err, tt.wantErr)
			}
			if got := fake.requests; !equal(got, tt.wantRequests) {
				t.Errorf("requests = %v, want %v", got, tt.wantRequests)
			}
		})
	}
}

func TestSenderChunksBatches(t *testing.T) {
	fake := &fakeBatchSQS{t: t, fail: func(int) ([]string, bool) { return nil, false }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var msgs []queue.Outgoing
	for range 23 {
		msgs = append(msgs, queue.Outgoing{Body: []byte("small")})
	}
	big := strings.Repeat("x", 100*1024)
	for range 3 {
		msgs = append(msgs, queue.Outgoing{Body: []byte(big)})
	}
	if err := wsqs.NewSender(newClient(srv.URL), srv.URL+"/q").Send(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, r := range fake.requests {
		sizes = append(sizes, len(r))
	}
	// 23 small: 10, 10, then 3 small + 2 big (under 256 KiB), then 1 big.
	want := []int{10, 10, 5, 1}
	if !equal([][]int{sizes}, [][]int{want}) {
		t.Errorf("batch sizes = %v, want %v", sizes, want)
	}
}

func equal[T comparable](a, b [][]T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func init() {
	// The poller logs expected errors (cancelled receives) at test end.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
