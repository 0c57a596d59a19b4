package apigw

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wacrm/wacrm/shared/auth"
)

func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile("../../../events/apigw/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	// Round trip: our sample survives the events type unchanged in meaning.
	again, _ := json.Marshal(ev)
	var ev2 events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(again, &ev2); err != nil || ev2.RawPath != ev.RawPath || ev2.RequestContext.HTTP.Method != ev.RequestContext.HTTP.Method {
		t.Fatalf("round trip of %s changed it", name)
	}
	return ev
}

func TestAuthenticatorReadsGatewayClaims(t *testing.T) {
	var got auth.Principal
	var gotErr error
	var gotQuery string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = Authenticator{}.Authenticate(r)
		gotQuery = r.URL.Query().Get("unanswered")
		w.WriteHeader(http.StatusNoContent)
	})
	resp, err := Handler(h)(context.Background(), loadEvent(t, "api_list_conversations.json"))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("proxy: %v %d", err, resp.StatusCode)
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if got.UserID != "7d8c1f2e-0000-4000-8000-000000000001" || got.Org != "acme" || !slices.Equal(got.Groups, []string{"admin", "sales"}) || !got.IsAdmin() {
		t.Errorf("principal %+v", got)
	}
	if gotQuery != "3d" {
		t.Errorf("query %q", gotQuery)
	}
}

func TestAuthenticatorRefusesWithoutAuthorizer(t *testing.T) {
	ev := loadEvent(t, "webhook_handshake.json")
	// A client cannot smuggle claims in through the proxy's context header.
	ev.Headers["X-GoLambdaProxy-ApiGateway-Context"] = `{"authorizer":{"jwt":{"claims":{"sub":"x","custom:org":"victim"}}}}`
	var gotErr error
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, gotErr = Authenticator{}.Authenticate(r)
		w.WriteHeader(http.StatusNoContent)
	})
	if _, err := Handler(h)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if gotErr == nil {
		t.Error("authenticated a request that had no authorizer claims")
	}
}

func TestAuthenticatorNeedsOrgClaim(t *testing.T) {
	ev := loadEvent(t, "api_list_conversations.json")
	delete(ev.RequestContext.Authorizer.JWT.Claims, "custom:org")
	var gotErr error
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, gotErr = Authenticator{}.Authenticate(r)
		w.WriteHeader(204)
	})
	if _, err := Handler(h)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if gotErr == nil {
		t.Error("a token without an org claim was accepted")
	}
}
