package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wacrm/wacrm/shared/aws/sqs"
	"github.com/wacrm/wacrm/shared/aws/sqs/sqstest"
	"github.com/wacrm/wacrm/shared/localstack"
	"github.com/wacrm/wacrm/shared/queue"
)

func runOK(t *testing.T, client *awssqs.Client, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, client); err != nil {
		t.Fatalf("dlq %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func receiveAll(t *testing.T, c *awssqs.Client, url string) []types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

// On SQS (fauxqs): show lists and leaves the messages; redrive is a dry
// run until -apply, which moves every message with its attributes.
func TestShowAndRedriveOnSQS(t *testing.T) {
	c := sqstest.Client(t)
	ctx := context.Background()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	qURL, dlqURL, err := sqs.CreateQueueWithDLQ(ctx, c, "dlqtool-"+hex.EncodeToString(suffix), 5, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sender := sqs.NewSender(c, dlqURL)
	if err := sender.Send(ctx,
		queue.Outgoing{Body: []byte(`{"poison":1}`), Attributes: map[string]string{"kind": "test"}},
		queue.Outgoing{Body: []byte(`{"poison":2}`)},
	); err != nil {
		t.Fatal(err)
	}

	for range 2 { // showing twice finds the same two: show leaves them
		out := runOK(t, c, "show", "-dlq-url", dlqURL)
		if !strings.Contains(out, `{"poison":1}`) || !strings.Contains(out, `{"poison":2}`) || !strings.Contains(out, "kind=test") ||
			!strings.Contains(out, "2 message(s) in "+dlqURL) {
			t.Fatalf("show:\n%s", out)
		}
	}
	out := runOK(t, c, "redrive", "-dlq-url", dlqURL, "-to", qURL)
	if !strings.Contains(out, "dry run: would move 2 message(s)") {
		t.Fatalf("dry run:\n%s", out)
	}
	if got := receiveAll(t, c, qURL); len(got) != 0 {
		t.Fatalf("the dry run moved %d message(s)", len(got))
	}

	out = runOK(t, c, "redrive", "-apply", "-dlq-url", dlqURL, "-to", qURL)
	if !strings.Contains(out, "moved 2 message(s)") {
		t.Fatalf("redrive:\n%s", out)
	}
	bodies := map[string]string{}
	for _, m := range receiveAll(t, c, qURL) {
		kind := ""
		if a, ok := m.MessageAttributes["kind"]; ok {
			kind = aws.ToString(a.StringValue)
		}
		bodies[aws.ToString(m.Body)] = kind
	}
	if len(bodies) != 2 || bodies[`{"poison":1}`] != "test" {
		t.Errorf("queue after redrive: %v, want both bodies, the first with kind=test", bodies)
	}
	if out := runOK(t, c, "show", "-dlq-url", dlqURL); !strings.Contains(out, "0 message(s)") {
		t.Errorf("DLQ after redrive:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"purge"}, {"show"}, {"redrive", "-dlq-url", "https://sqs.example/q"}, {"show", "-dlq-url", "u", "inbound"},
	} {
		if err := run(context.Background(), args, io.Discard, awssqs.New(awssqs.Options{Region: "us-east-1"})); err == nil {
			t.Errorf("dlq %v: no error", args)
		}
	}
}

// On the local stack: a webhook body left in the inbound DLQ is shown,
// stays put on a dry run, and after -apply becomes a conversation.
func TestShowAndRedriveOnTheLocalStack(t *testing.T) {
	cfg, err := localstack.LoadConfig("../localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stackJSON := filepath.Join(dir, "stack.json")

	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Redriven"},"wa_id":"15557770001"}],"messages":[{"from":"15557770001","id":"wamid.DLQ1","timestamp":"%d","type":"text","text":{"body":"lost and found"}}]}}]}]}`,
		st.Info.PhoneNumberID, time.Now().Unix())
	if err := st.Queue("inboundDLQ").Send(context.Background(), queue.Outgoing{Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	conversations := func() int {
		req, _ := http.NewRequest("GET", st.Info.APIURL+"/conversations", nil)
		req.Header.Set("Authorization", "Bearer "+st.Info.Tokens["admin"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Count(string(b), `"Redriven"`)
	}

	if out := runOK(t, nil, "show", "-full", "-stack", stackJSON, "inbound"); !strings.Contains(out, "lost and found") || !strings.Contains(out, "1 message(s)") {
		t.Fatalf("show:\n%s", out)
	}
	if out := runOK(t, nil, "redrive", "-stack", stackJSON, "inbound"); !strings.Contains(out, "dry run: would move 1 message(s)") {
		t.Fatalf("dry run:\n%s", out)
	}
	if s := st.QueueStats()["inboundDLQ"]; s.Visible != 1 || conversations() != 0 {
		t.Fatalf("the dry run moved something: DLQ %+v", s)
	}
	if out := runOK(t, nil, "redrive", "-apply", "-stack", stackJSON, "inbound"); !strings.Contains(out, "moved 1 message(s)") {
		t.Fatalf("redrive:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for conversations() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the redriven webhook never became a conversation")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Dead letters hold what customers wrote: admins only.
	req, _ := http.NewRequest("GET", st.Info.SimulatorURL+"/debug/queues/inbound/dead-letters", nil)
	req.Header.Set("Authorization", "Bearer "+st.Info.Tokens["user"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dead letters for a non-admin: %d, want 401", resp.StatusCode)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"show", "-stack", stackJSON, "nosuchqueue"}, &out, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown queue: %v", err)
	}
}
