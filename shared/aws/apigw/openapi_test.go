package apigw

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wacrm/wacrm/shared/httpapi"
)

// Behind API Gateway the served OpenAPI document names the gateway's
// domain over https: what the proxy makes of the event is what the
// document echoes, so a client generated from it needs no base URL.
func TestOpenAPIServersFromTheGateway(t *testing.T) {
	ev := loadEvent(t, "api_list_conversations.json")
	ev.RouteKey, ev.RawPath, ev.RawQueryString, ev.QueryStringParameters = "GET /openapi.json", "/openapi.json", "", nil
	ev.RequestContext.HTTP.Path, ev.RequestContext.Authorizer = "/openapi.json", nil
	api := (&httpapi.API{Log: slog.New(slog.DiscardHandler)}).Handler()
	resp, err := Handler(api)(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil || len(doc.Servers) != 1 || doc.Servers[0].URL != "https://abc123.execute-api.eu-west-1.amazonaws.com" {
		t.Errorf("servers %+v (%v), want the gateway's https domain", doc.Servers, err)
	}
}

// The zoneinfo claim (Cognito's standard attribute) reaches the principal.
func TestAuthenticatorReadsZoneinfo(t *testing.T) {
	ev := loadEvent(t, "api_list_conversations.json")
	ev.RequestContext.Authorizer.JWT.Claims["zoneinfo"] = "Asia/Tokyo"
	var zone string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := Authenticator{}.Authenticate(r)
		if err != nil {
			t.Error(err)
		}
		zone = p.TimeZone
		w.WriteHeader(http.StatusNoContent)
	})
	if _, err := Handler(h)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if zone != "Asia/Tokyo" {
		t.Errorf("time zone %q, want Asia/Tokyo", zone)
	}
}
