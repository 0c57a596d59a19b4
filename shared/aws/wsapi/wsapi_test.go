package wsapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/aws/wsapi"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// managementAPI stands in for API Gateway's management endpoint of stage
// "prod": it checks each request is exactly what the SDK must send, records
// the posts, and answers 410 Gone for the connections in gone.
type managementAPI struct {
	t     *testing.T
	gone  []string
	mu    sync.Mutex
	posts map[string][]string // connection id -> bodies
}

func (m *managementAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	escaped, ok := strings.CutPrefix(r.URL.EscapedPath(), "/prod/@connections/")
	id, err := url.PathUnescape(escaped)
	switch {
	case r.Method != http.MethodPost || !ok || err != nil || escaped != strings.ReplaceAll(url.PathEscape(id), "=", "%3D"): // the SDK escapes the id as a path label
		m.t.Errorf("request %s %s, want POST /prod/@connections/{escaped id}", r.Method, r.URL.EscapedPath())
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") ||
		!strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/execute-api/aws4_request"):
		m.t.Errorf("authorization %q, want SigV4 for execute-api in eu-west-1", r.Header.Get("Authorization"))
	case r.Header.Get("X-Amz-Date") == "" || r.Header.Get("X-Amz-Content-Sha256") == "" && r.Header.Get("Content-Length") == "":
		m.t.Errorf("missing signing headers: %v", r.Header)
	}
	body, _ := io.ReadAll(r.Body)
	if slices.Contains(m.gone, id) {
		w.Header().Set("X-Amzn-ErrorType", "GoneException")
		w.WriteHeader(http.StatusGone)
		_, _ = w.Write([]byte(`{"message":"gone"}`))
		return
	}
	m.mu.Lock()
	m.posts[id] = append(m.posts[id], string(body))
	m.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func newStore(t *testing.T) *storage.Store {
	return storage.New(storagetest.Bolt(t))
}

func client(url string) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(url + "/prod"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
}

func TestPushPostsToTheConcernedSocketsAndForgetsGoneOnes(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	for _, c := range []notify.Connection{
		{ID: "sam-1=", Org: "acme", UserID: "u-sam"},
		{ID: "sam-2=", Org: "acme", UserID: "u-sam"},
		{ID: "lee-1=", Org: "acme", UserID: "u-lee"},
		{ID: "eve-1=", Org: "other", UserID: "u-sam"},
	} {
		if err := store.SaveWebSocket(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	api := &managementAPI{t: t, gone: []string{"sam-2="}, posts: map[string][]string{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p := &wsapi.Pusher{API: client(srv.URL), Conns: store, Log: quiet}

	err := p.Push(ctx, []notify.Event{
		{Type: notify.NotificationRaised, Org: "acme", UserID: "u-sam", ConversationID: "conv_1", NotificationID: "ntf_1_1", Count: 1},
		{Type: notify.MessageReceived, Org: "acme", ConversationID: "conv_1", MessageID: "wamid.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"sam-1=": {`{"type":"notification.raised","conversationId":"conv_1","notificationId":"ntf_1_1","count":1}`,
			`{"type":"message.received","conversationId":"conv_1","messageId":"wamid.1"}`},
		"lee-1=": {`{"type":"message.received","conversationId":"conv_1","messageId":"wamid.1"}`},
	}
	if got, _ := json.Marshal(api.posts); string(got) != mustJSON(want) {
		t.Fatalf("posts:\n%s\nwant\n%s", got, mustJSON(want))
	}
	left, err := store.WebSockets(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 {
		t.Fatalf("connections left %+v; the gone one should be forgotten", left)
	}
}

func TestPushFailureIsReturnedForRetry(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	_ = store.SaveWebSocket(ctx, notify.Connection{ID: "sam-1", Org: "acme", UserID: "u-sam"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "ForbiddenException")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"no"}`))
	}))
	defer srv.Close()
	p := &wsapi.Pusher{API: client(srv.URL), Conns: store, Log: quiet}
	if err := p.Push(ctx, []notify.Event{{Type: notify.MessageReceived, Org: "acme"}}); err == nil {
		t.Fatal("a refused post must fail the push so the change is retried")
	}
	if left, _ := store.WebSockets(ctx, "acme", ""); len(left) != 1 {
		t.Fatalf("a connection that is not gone was forgotten: %+v", left)
	}
}

type verifier struct{ iss *auth.HMACIssuer }

func (v verifier) Verify(_ context.Context, tok string) (auth.Principal, error) {
	return v.iss.Verify(tok)
}

func loadEvent(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "apigw", name))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRoutes(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	iss := &auth.HMACIssuer{Issuer: "test", Audience: "wacrm", Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}
	rt := &wsapi.Routes{Verify: verifier{iss}, Conns: store, Log: quiet, Now: func() time.Time { return now }}
	tok, _ := iss.Issue(auth.Principal{UserID: "u-sam", Org: "acme"}, time.Hour)
	wrong, _ := (&auth.HMACIssuer{Issuer: "test", Audience: "other", Key: iss.Key, Now: iss.Now}).Issue(auth.Principal{UserID: "u-sam", Org: "acme"}, time.Hour)

	connect := loadEvent(t, "websocket_connect.json")
	// The sample is what API Gateway sends; the token is the test's own.
	connect.QueryStringParameters = map[string]string{"token": tok}
	resp, err := rt.Handle(ctx, connect)
	if err != nil || resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "" {
		t.Fatalf("connect with ?token=: %+v %v", resp, err)
	}
	id := connect.RequestContext.ConnectionID
	if conns, _ := store.WebSockets(ctx, "acme", "u-sam"); len(conns) != 1 || conns[0].ID != id {
		t.Fatalf("connections after $connect: %+v", conns)
	}

	byProtocol := loadEvent(t, "websocket_connect.json")
	byProtocol.RequestContext.ConnectionID = "second="
	byProtocol.QueryStringParameters = nil
	byProtocol.Headers["Sec-WebSocket-Protocol"] = "wacrm, " + tok
	byProtocol.MultiValueHeaders["Sec-WebSocket-Protocol"] = []string{"wacrm, " + tok}
	if resp, err := rt.Handle(ctx, byProtocol); err != nil || resp.StatusCode != 200 || resp.Headers["Sec-WebSocket-Protocol"] != "wacrm" {
		t.Fatalf("connect with the subprotocol: %+v %v", resp, err)
	}

	for name, q := range map[string]map[string]string{"no token": nil, "wrong audience": {"token": wrong}, "garbage": {"token": "x.y.z"}} {
		bad := loadEvent(t, "websocket_connect.json")
		bad.RequestContext.ConnectionID = "refused="
		bad.QueryStringParameters = q
		if resp, err := rt.Handle(ctx, bad); err != nil || resp.StatusCode != 401 {
			t.Errorf("%s: %+v %v, want 401", name, resp, err)
		}
	}
	if conns, _ := store.WebSockets(ctx, "acme", ""); len(conns) != 2 {
		t.Fatalf("refused sockets were kept: %+v", conns)
	}

	disconnect := loadEvent(t, "websocket_disconnect.json")
	disconnect.RequestContext.ConnectionID = id
	if resp, err := rt.Handle(ctx, disconnect); err != nil || resp.StatusCode != 200 {
		t.Fatalf("disconnect: %+v %v", resp, err)
	}
	if conns, _ := store.WebSockets(ctx, "acme", ""); len(conns) != 1 || conns[0].ID != "second=" {
		t.Fatalf("connections after $disconnect: %+v", conns)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
