package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
)

// Every id that goes into a storage key is checked against the ids
// alphabet at the edge: a token whose org or user could read as another
// key is a 401, an id in a path, query or body a 400; never a lookup.
func TestIDsOutsideTheAlphabetAreRefused(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range []auth.Principal{
		{UserID: "u-mal", Org: "acme#CONV"},
		{UserID: "u-mal", Org: "acme/x"},
		{UserID: "u#mal", Org: "acme"},
		{UserID: "u-mal", Org: "acme\x00"},
	} {
		tok, err := h.Issuer.Issue(p, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h.Tokens[p.UserID+"@"+p.Org] = tok
		var e apiError
		if got := h.do(p.UserID+"@"+p.Org, "GET", "/v1/conversations", nil, &e); got != http.StatusUnauthorized || e.Error.Code != "unauthenticated" {
			t.Errorf("token for org %q, user %q: %d %q, want 401 unauthenticated", p.Org, p.UserID, got, e.Error.Code)
		}
	}

	for _, tc := range []struct{ user, method, path string }{
		{"u-sam", "GET", "/v1/conversations/conv%23x"},
		{"u-sam", "GET", "/v1/conversations/conv%23x/messages"},
		{"u-sam", "GET", "/v1/conversations/conv%23x/attachments"},
		{"u-sam", "POST", "/v1/conversations/conv%23x/preview"},
		{"u-sam", "POST", "/v1/conversations/conv%23x/messages"},
		{"u-sam", "GET", "/v1/conversations?owner=u-sam%23x"},
		{"u-sam", "GET", "/v1/conversations?answeredBy=u%00x"},
		{"u-sam", "GET", "/v1/canned-responses/c%23x"},
		{"u-sam", "PATCH", "/v1/canned-responses/c%23x"},
		{"u-sam", "DELETE", "/v1/canned-responses/c%23x"},
		{"u-sam", "GET", "/v1/views/v%23x"},
		{"u-sam", "DELETE", "/v1/views/v%23x"},
		{"u-sam", "GET", "/v1/records/Leads/r%23x"},
		{"u-sam", "PATCH", "/v1/records/Leads/r%23x"},
		{"u-admin", "GET", "/v1/integrations/i%23x"},
		{"u-admin", "PATCH", "/v1/integrations/i%23x"},
		{"u-admin", "DELETE", "/v1/integrations/i%23x?confirm=true"},
		{"u-admin", "POST", "/v1/integrations/i%23x/activate"},
		{"u-sam", "GET", "/v1/conversations?view=v%23x"},
	} {
		var e apiError
		if got := h.do(tc.user, tc.method, tc.path, map[string]any{"text": "hi"}, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("%s %s: %d %q, want 400 invalid", tc.method, tc.path, got, e.Error.Code)
		}
	}
}

// Ids in request bodies are checked as those in paths are.
func TestIDsInBodiesOutsideTheAlphabetAreRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.customerWrites("15550001234", "Ana", "wamid.IDS1", "hola")
	var convs struct {
		Items []struct{ ID string } `json:"items"`
	}
	if got := h.do("u-admin", "GET", "/v1/conversations", nil, &convs); got != http.StatusOK || len(convs.Items) != 1 {
		t.Fatalf("conversations: %d %+v", got, convs)
	}
	conv := convs.Items[0].ID
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/v1/conversations/" + conv + "/preview", map[string]any{"cannedResponseId": "c#x"}},
		{"/v1/conversations/" + conv + "/messages", map[string]any{"cannedResponseId": "c#x"}},
	} {
		var e apiError
		if got := h.do("u-admin", "POST", tc.path, tc.body, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("POST %s %v: %d %q, want 400 invalid", tc.path, tc.body, got, e.Error.Code)
		}
	}
}
