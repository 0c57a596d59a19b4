package secretsmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	wsm "github.com/wacrm/wacrm/shared/aws/secretsmanager"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/secrets/secretstest"
)

// call is one request as the service received it.
type call struct {
	Op   string
	Body map[string]any
}

// fakeService answers the Secrets Manager JSON protocol (awsJson1_1) the way
// the service does, for the three operations the adapter uses, after
// checking each request is what the SDK must send. There is no local
// Secrets Manager server that installs from a package registry.
type fakeService struct {
	t *testing.T

	mu      sync.Mutex
	secrets map[string]string
	calls   []call
	// createdBehind, when set, is a secret another writer creates between
	// a PutSecretValue that found nothing and our CreateSecret.
	createdBehind string
	// deny answers every request with AccessDeniedException.
	deny bool
}

func newFake(t *testing.T) (*fakeService, *secretsmanager.Client) {
	f := &fakeService{t: t, secrets: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := secretsmanager.New(secretsmanager.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	return f, client
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.t.Helper()
	raw, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	case !ok:
		f.t.Errorf("X-Amz-Target %q, want secretsmanager.<Operation>", target)
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		f.t.Errorf("%s: Content-Type %q, want application/x-amz-json-1.1", op, r.Header.Get("Content-Type"))
	case !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/secretsmanager/aws4_request"):
		f.t.Errorf("%s: Authorization %q is not a SigV4 signature for secretsmanager", op, r.Header.Get("Authorization"))
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body %q is not JSON: %v", op, raw, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Op: op, Body: body})
	if f.deny {
		f.fail(w, "AccessDeniedException", "User is not authorized to perform: secretsmanager:"+op)
		return
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	arn := func(name string) string {
		return "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + name + "-AbCdEf"
	}
	switch op {
	case "PutSecretValue":
		id := str("SecretId")
		if str("ClientRequestToken") == "" {
			f.t.Errorf("PutSecretValue without a ClientRequestToken: the SDK fills one for idempotent retries")
		}
		if _, ok := f.secrets[id]; !ok {
			if f.createdBehind == id {
				f.secrets[id], f.createdBehind = "written by someone else", ""
			}
			f.fail(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		f.secrets[id] = str("SecretString")
		f.ok(w, map[string]any{"ARN": arn(id), "Name": id, "VersionId": str("ClientRequestToken"), "VersionStages": []string{"AWSCURRENT"}})
	case "CreateSecret":
		name := str("Name")
		if _, ok := f.secrets[name]; ok {
			f.fail(w, "ResourceExistsException", "The operation failed because the secret "+name+" already exists.")
			return
		}
		f.secrets[name] = str("SecretString")
		f.ok(w, map[string]any{"ARN": arn(name), "Name": name, "VersionId": str("ClientRequestToken")})
	case "GetSecretValue":
		id := str("SecretId")
		v, ok := f.secrets[id]
		if !ok {
			f.fail(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		f.ok(w, map[string]any{"ARN": arn(id), "Name": id, "SecretString": v, "VersionId": "v1",
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7634528e9})
	default:
		f.fail(w, "InvalidRequestException", "unexpected operation "+op)
		f.t.Errorf("unexpected operation %q", op)
	}
}

func (f *fakeService) ok(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeService) fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
}

func (f *fakeService) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func TestContract(t *testing.T) {
	_, client := newFake(t)
	secretstest.Run(t, wsm.New(client, "wacrm/test/tokens/"))
}

func TestSecretName(t *testing.T) {
	tests := []struct {
		prefix, name, want string
	}{
		{"wacrm/prod/tokens/", "tokens/int_1", "wacrm/prod/tokens/int_1"}, // the stack's prefix: no doubled segment
		{"wacrm/prod/", "tokens/int_1", "wacrm/prod/tokens/int_1"},
		{"tokens/", "tokens/int_1", "tokens/int_1"},
		{"", "tokens/int_1", "tokens/int_1"},
		{"wacrm/prod/tokens/", "webhook/app", "wacrm/prod/tokens/webhook/app"},
		{"wacrm/mytokens/", "tokens/int_1", "wacrm/mytokens/tokens/int_1"}, // only a whole segment overlaps
		{"wacrm/prod/tokens/", "int_1", "wacrm/prod/tokens/int_1"},
	}
	for _, tt := range tests {
		got, err := wsm.New(nil, tt.prefix).SecretName(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("prefix %q, name %q: got %q, %v; want %q", tt.prefix, tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/tokens/x", "tokens//x", "tokens/x y", "tokens/ü", strings.Repeat("a", 600)} {
		if got, err := wsm.New(nil, "wacrm/prod/").SecretName(bad); err == nil {
			t.Errorf("SecretName(%q) = %q, want an error", bad, got)
		}
	}
}

// TestRequests checks the exact calls: a new name is a PutSecretValue that
// finds nothing and then a CreateSecret; a known name one PutSecretValue.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	f, client := newFake(t)
	s := wsm.New(client, "wacrm/prod/tokens/")
	const full = "wacrm/prod/tokens/int_1"

	if err := s.Put(ctx, "tokens/int_1", "EAAG-one"); err != nil {
		t.Fatal(err)
	}
	calls := f.takeCalls()
	if got := ops(calls); got != "PutSecretValue CreateSecret" {
		t.Fatalf("first Put made %s, want PutSecretValue CreateSecret", got)
	}
	if calls[0].Body["SecretId"] != full || calls[0].Body["SecretString"] != "EAAG-one" {
		t.Errorf("PutSecretValue body %v", calls[0].Body)
	}
	if calls[1].Body["Name"] != full || calls[1].Body["SecretString"] != "EAAG-one" || calls[1].Body["ClientRequestToken"] == nil {
		t.Errorf("CreateSecret body %v", calls[1].Body)
	}

	if err := s.Put(ctx, "tokens/int_1", "EAAG-two"); err != nil {
		t.Fatal(err)
	}
	if got := ops(f.takeCalls()); got != "PutSecretValue" {
		t.Fatalf("second Put made %s, want PutSecretValue", got)
	}

	got, err := s.Get(ctx, "tokens/int_1")
	if err != nil || got != "EAAG-two" {
		t.Fatalf("Get = %q, %v; want EAAG-two", got, err)
	}
	calls = f.takeCalls()
	if len(calls) != 1 || calls[0].Op != "GetSecretValue" || calls[0].Body["SecretId"] != full {
		t.Errorf("Get made %v, want one GetSecretValue of %s", calls, full)
	}

	if _, err := s.Get(ctx, "tokens/int_2"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("Get of a missing secret: %v, want secrets.ErrNotFound", err)
	}
}

// TestPutRace: another writer creates the secret between our
// PutSecretValue (not found) and CreateSecret (exists): our value must
// still become the current one.
func TestPutRace(t *testing.T) {
	ctx := context.Background()
	f, client := newFake(t)
	s := wsm.New(client, "wacrm/prod/")
	f.createdBehind = "wacrm/prod/tokens/int_9"
	if err := s.Put(ctx, "tokens/int_9", "ours"); err != nil {
		t.Fatal(err)
	}
	if got := ops(f.takeCalls()); got != "PutSecretValue CreateSecret PutSecretValue" {
		t.Errorf("calls %s, want PutSecretValue CreateSecret PutSecretValue", got)
	}
	if got, err := s.Get(ctx, "tokens/int_9"); err != nil || got != "ours" {
		t.Errorf("Get = %q, %v; want ours", got, err)
	}
}

// TestOtherErrors: only ResourceNotFoundException leads to CreateSecret;
// other errors come back wrapped and are not secrets.ErrNotFound.
func TestOtherErrors(t *testing.T) {
	ctx := context.Background()
	f, client := newFake(t)
	s := wsm.New(client, "wacrm/prod/tokens/")
	f.deny = true
	err := s.Put(ctx, "tokens/int_1", "v")
	if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Errorf("Put when denied: %v, want AccessDeniedException", err)
	}
	if got := ops(f.takeCalls()); got != "PutSecretValue" {
		t.Errorf("Put when denied made %s, want only PutSecretValue", got)
	}
	_, err = s.Get(ctx, "tokens/int_1")
	if err == nil || errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("Get when denied: %v, want an error other than ErrNotFound", err)
	}
}

func ops(calls []call) string {
	var names []string
	for _, c := range calls {
		names = append(names, c.Op)
	}
	return strings.Join(names, " ")
}
