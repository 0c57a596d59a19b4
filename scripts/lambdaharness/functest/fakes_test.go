package functest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// fakeSecrets answers the Secrets Manager operations the functions use,
// GetSecretValue, PutSecretValue and CreateSecret, in the service's JSON
// protocol (awsJson1_1), after checking each request is what the SDK sends:
// there is no local Secrets Manager server (DESIGN.md §9). Reading a secret
// it does not hold is a test failure.
type fakeSecrets struct {
	t      *testing.T
	region string

	mu      sync.Mutex
	secrets map[string]string // SecretId (name) -> SecretString
	calls   []string          // "Operation SecretId", in order
}

func newFakeSecrets(t *testing.T, region string, secrets map[string]string) (*fakeSecrets, string) {
	f := &fakeSecrets{t: t, region: region, secrets: secrets}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeSecrets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.t.Errorf("secrets manager: request %s %s, want POST /", r.Method, r.URL.Path)
	case !ok:
		f.t.Errorf("secrets manager: X-Amz-Target %q, want secretsmanager.<Operation>", r.Header.Get("X-Amz-Target"))
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		f.t.Errorf("secrets manager: %s: Content-Type %q, want application/x-amz-json-1.1", op, r.Header.Get("Content-Type"))
	case !strings.Contains(r.Header.Get("Authorization"), "/"+f.region+"/secretsmanager/aws4_request"):
		f.t.Errorf("secrets manager: %s: Authorization %q is not a SigV4 signature for secretsmanager in %s", op, r.Header.Get("Authorization"), f.region)
	}
	var in struct {
		SecretID           string `json:"SecretId"`
		Name               string `json:"Name"`
		SecretString       string `json:"SecretString"`
		ClientRequestToken string `json:"ClientRequestToken"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		f.t.Errorf("secrets manager: %s: body %q is not JSON: %v", op, raw, err)
	}
	id := in.SecretID
	if op == "CreateSecret" {
		id = in.Name
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+id)
	arn := "arn:aws:secretsmanager:" + f.region + ":000000000000:secret:" + id + "-AbCdEf"
	_, exists := f.secrets[id]
	switch op {
	case "GetSecretValue":
		if !exists {
			f.t.Errorf("secrets manager: GetSecretValue of unknown secret %q", id)
			f.fail(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		f.ok(w, map[string]any{"ARN": arn, "Name": id, "SecretString": f.secrets[id], "VersionId": "v1",
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7634528e9})
	case "PutSecretValue":
		if in.ClientRequestToken == "" {
			f.t.Errorf("secrets manager: PutSecretValue of %s without a ClientRequestToken", id)
		}
		if !exists {
			f.fail(w, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		f.secrets[id] = in.SecretString
		f.ok(w, map[string]any{"ARN": arn, "Name": id, "VersionId": in.ClientRequestToken, "VersionStages": []string{"AWSCURRENT"}})
	case "CreateSecret":
		if exists {
			f.fail(w, "ResourceExistsException", "The operation failed because the secret "+id+" already exists.")
			return
		}
		f.secrets[id] = in.SecretString
		f.ok(w, map[string]any{"ARN": arn, "Name": id, "VersionId": in.ClientRequestToken})
	default:
		f.t.Errorf("secrets manager: unexpected operation %q", op)
		f.fail(w, "AccessDeniedException", "not allowed: secretsmanager:"+op)
	}
}

func (f *fakeSecrets) ok(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSecrets) fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
}

// count is how many op calls on secret id were made.
func (f *fakeSecrets) count(op, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op+" "+id {
			n++
		}
	}
	return n
}

// value is the secret's current value, if it exists.
func (f *fakeSecrets) value(id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.secrets[id]
	return v, ok
}

// graphSend is one POST /{phone-number-id}/messages the Graph fake received.
type graphSend struct {
	PhoneNumberID string
	Token         string
	To            string
	Type          string
	Text          string
}

// fakeGraph is the WhatsApp Cloud API's send endpoint: it checks the
// request the way Meta would refuse it (token, product, recipient) and
// answers with a new wamid.
type fakeGraph struct {
	t     *testing.T
	token string // the only access token it accepts

	mu    sync.Mutex
	sends []graphSend
}

func newFakeGraph(t *testing.T, token string) (*fakeGraph, string) {
	g := &fakeGraph{t: t, token: token}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func (g *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pnid, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/messages")
	if r.Method != http.MethodPost || !ok || strings.Contains(pnid, "/") {
		g.t.Errorf("graph: unexpected request %s %s", r.Method, r.URL.Path)
		g.fail(w, http.StatusBadRequest, 100, "Unsupported request")
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token != g.token {
		g.t.Errorf("graph: access token %q, want the integration's token from Secrets Manager", token)
		g.fail(w, http.StatusUnauthorized, 190, "Invalid OAuth access token")
		return
	}
	var body struct {
		MessagingProduct string `json:"messaging_product"`
		To               string `json:"to"`
		Type             string `json:"type"`
		Text             struct {
			Body string `json:"body"`
		} `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.MessagingProduct != "whatsapp" || body.To == "" {
		g.t.Errorf("graph: bad send body (err %v): %+v", err, body)
		g.fail(w, http.StatusBadRequest, 100, "Invalid parameter")
		return
	}
	g.mu.Lock()
	g.sends = append(g.sends, graphSend{PhoneNumberID: pnid, Token: token, To: body.To, Type: body.Type, Text: body.Text.Body})
	n := len(g.sends)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": body.To, "wa_id": body.To}},
		"messages":          []map[string]string{{"id": wamidSent(n)}},
	})
}

func (g *fakeGraph) fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "OAuthException", "code": code}})
}

func (g *fakeGraph) received() []graphSend {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]graphSend(nil), g.sends...)
}

// fakeS3 is gofakes3 in process, logging the requests it gets so the test
// can tell how the SDK addressed the bucket.
type fakeS3 struct {
	backend gofakes3.Backend
	url     string

	mu       sync.Mutex
	requests []string // "METHOD host path"
}

func newFakeS3(t *testing.T, bucket string) *fakeS3 {
	f := &fakeS3{backend: s3mem.New()}
	if err := f.backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	s3 := gofakes3.New(f.backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.Host+" "+r.URL.Path)
		f.mu.Unlock()
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeS3) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeS3) get(t *testing.T, bucket, key string) []byte {
	t.Helper()
	obj, err := f.backend.GetObject(bucket, key, nil)
	if err != nil {
		t.Fatalf("s3: get %s: %v", key, err)
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		t.Fatalf("s3: read %s: %v", key, err)
	}
	return b
}

func (f *fakeS3) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	if _, err := f.backend.PutObject(bucket, key, map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatalf("s3: put %s: %v", key, err)
	}
}
