package awsapp

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
	awssecrets "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// secretServer answers the SDK's GetSecretValue for one secret with
// whatever value holds now, or with a service error while failing is set.
type secretServer struct {
	mu      sync.Mutex
	value   string
	failing bool
	reads   int
}

func (f *secretServer) set(value string, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.failing = value, failing
}

func (f *secretServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.Contains(string(body), `"SecretId":"arn:webhook"`) {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	f.reads++
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if f.failing {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"InternalServiceError","message":"down"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"ARN": "arn:webhook", "Name": "webhook", "SecretString": f.value})
}

// A new app secret put into Secrets Manager is in use within the TTL,
// without a new instance; a failed refresh keeps the secret read before.
func TestWebhookSecretSourcePicksUpANewSecret(t *testing.T) {
	fake := &secretServer{value: `{"appSecret":"REPLACE_WITH_META_APP_SECRET","verifyToken":"v"}`}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := awssecrets.New(awssecrets.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	src := &WebhookSecretSource{Client: client, ARN: "arn:webhook", Now: func() time.Time { return now }}
	ctx := context.Background()
	get := func() WebhookSecret {
		t.Helper()
		ws, err := src.WebhookSecret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	if ws := get(); ws.AppSecret != "REPLACE_WITH_META_APP_SECRET" {
		t.Fatalf("first read: %+v", ws)
	}
	fake.set(`{"appSecret":"meta-secret","previousAppSecret":"old","verifyToken":"v"}`, false)
	now = now.Add(WebhookSecretTTL - time.Second)
	if ws := get(); ws.AppSecret != "REPLACE_WITH_META_APP_SECRET" || fake.reads != 1 {
		t.Errorf("within the TTL: %+v after %d reads, want the cached secret after 1", ws, fake.reads)
	}
	now = now.Add(2 * time.Second)
	if ws := get(); ws.AppSecret != "meta-secret" || ws.PreviousAppSecret != "old" {
		t.Errorf("after the TTL: %+v, want the new secret and the previous one", ws)
	}
	fake.set("", true)
	now = now.Add(WebhookSecretTTL)
	if ws := get(); ws.AppSecret != "meta-secret" {
		t.Errorf("failed refresh: %+v, want the secret read before", ws)
	}
}

// A secret that cannot be read the first time is an error (the function's
// init fails, naming it), as is one without its two required keys.
func TestWebhookSecretSourceRefusesABadSecret(t *testing.T) {
	for _, value := range []string{`not json`, `{"appSecret":"a"}`, `{"verifyToken":"v"}`} {
		fake := &secretServer{value: value}
		srv := httptest.NewServer(fake)
		client := awssecrets.New(awssecrets.Options{
			Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		})
		src := &WebhookSecretSource{Client: client, ARN: "arn:webhook"}
		if ws, err := src.WebhookSecret(context.Background()); err == nil {
			t.Errorf("secret %s: %+v, want an error", value, ws)
		}
		srv.Close()
	}
}
