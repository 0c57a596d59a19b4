package functest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// fakeSecrets answers the Secrets Manager operations the functions use,
// GetSecretValue, PutSecretValue and CreateSecret, in the service's JSON
// protocol (awsJson1_1), after checking each request is what the SDK sends:
// there is no local Secrets Manager server to install. Reading a secret
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

// fakeGraph is the WhatsApp Cloud API's send and media endpoints: it
// checks each request the way Meta would refuse it (token, product,
// recipient), answers a send with a new wamid, a media id with a download
// URL on itself, and that URL with the media's bytes.
type fakeGraph struct {
	t     *testing.T
	token string // the only access token it accepts for sends and media
	url   string
	// owned is a number an admin connects: its token reads it and its
	// WABA, and may subscribe the app to the WABA (what the api checks).
	owned struct{ token, wabaID, phoneNumberID string }

	mu        sync.Mutex
	sends     []graphSend
	media     map[string]graphMedia // media id -> file
	downloads map[string]int        // media id -> times downloaded
}

// graphMedia is a file a customer sent, held by Meta under a media id.
type graphMedia struct {
	mimeType string
	body     []byte
}

// downloadPath prefixes the fake's media download URLs (Meta's are on
// lookaside.fbsbx.com; any URL the media id resolves to must work).
const downloadPath = "/lookaside/"

func newFakeGraph(t *testing.T, token string) (*fakeGraph, string) {
	g := &fakeGraph{t: t, token: token, media: map[string]graphMedia{}, downloads: map[string]int{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g, srv.URL
}

// addMedia makes a file available under mediaID.
func (g *fakeGraph) addMedia(mediaID, mimeType string, body []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.media[mediaID] = graphMedia{mimeType: mimeType, body: body}
}

func (g *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == g.owned.token && token != "" {
		g.ownership(w, r)
		return
	}
	if token != g.token {
		g.t.Errorf("graph: %s %s: access token %q, want the integration's token from Secrets Manager", r.Method, r.URL.Path, token)
		g.fail(w, http.StatusUnauthorized, 190, "Invalid OAuth access token")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if r.Method == http.MethodGet {
		if id, ok := strings.CutPrefix(r.URL.Path, downloadPath); ok {
			g.download(w, id)
		} else {
			g.mediaInfo(w, path)
		}
		return
	}
	pnid, ok := strings.CutSuffix(path, "/messages")
	if r.Method != http.MethodPost || !ok || strings.Contains(pnid, "/") {
		g.t.Errorf("graph: unexpected request %s %s", r.Method, r.URL.Path)
		g.fail(w, http.StatusBadRequest, 100, "Unsupported request")
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

// ownership answers the calls that prove a number is the admin's: GET
// /{phone-number-id}, GET /{waba-id}/phone_numbers, POST
// /{waba-id}/subscribed_apps.
func (g *fakeGraph) ownership(w http.ResponseWriter, r *http.Request) {
	o := g.owned
	number := map[string]string{"id": o.phoneNumberID, "display_phone_number": "15550199999", "verified_name": "Functest",
		"code_verification_status": "VERIFIED", "quality_rating": "GREEN"}
	w.Header().Set("Content-Type", "application/json")
	switch r.Method + " " + r.URL.Path {
	case "GET /" + o.phoneNumberID:
		_ = json.NewEncoder(w).Encode(number)
	case "GET /" + o.wabaID + "/phone_numbers":
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{number}})
	case "POST /" + o.wabaID + "/subscribed_apps":
		_ = json.NewEncoder(w).Encode(map[string]bool{"success": true})
	default:
		g.t.Errorf("graph: unexpected request with the connected number's token: %s %s", r.Method, r.URL.Path)
		g.fail(w, http.StatusBadRequest, 100, "Unsupported request")
	}
}

// mediaInfo answers GET /{media-id} as Meta does: a download URL valid for
// five minutes, the MIME type, the SHA-256 and the size.
func (g *fakeGraph) mediaInfo(w http.ResponseWriter, id string) {
	g.mu.Lock()
	m, ok := g.media[id]
	g.mu.Unlock()
	if !ok || strings.Contains(id, "/") {
		g.t.Errorf("graph: GET of unknown media id %q", id)
		g.fail(w, http.StatusNotFound, 100, "Unsupported get request. Object with ID '"+id+"' does not exist")
		return
	}
	sum := sha256.Sum256(m.body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp", "id": id, "mime_type": m.mimeType,
		"sha256": hex.EncodeToString(sum[:]), "file_size": len(m.body),
		"url": g.url + downloadPath + id,
	})
}

func (g *fakeGraph) download(w http.ResponseWriter, id string) {
	g.mu.Lock()
	m, ok := g.media[id]
	if ok {
		g.downloads[id]++
	}
	g.mu.Unlock()
	if !ok {
		g.t.Errorf("graph: download of unknown media %q", id)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
	_, _ = w.Write(m.body)
}

// downloaded is how many times the media id's file was downloaded.
func (g *fakeGraph) downloaded(mediaID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.downloads[mediaID]
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

// lookup is the object at key, if there is one.
func (f *fakeS3) lookup(bucket, key string) ([]byte, bool) {
	obj, err := f.backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, false
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	return b, err == nil
}

func (f *fakeS3) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	if _, err := f.backend.PutObject(bucket, key, map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatalf("s3: put %s: %v", key, err)
	}
}
