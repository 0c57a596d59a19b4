package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/integration"
)

// availableJSON is one number of GET /v1/integrations/available.
type availableJSON struct {
	PhoneNumberID          string `json:"phoneNumberId"`
	WABAID                 string `json:"wabaId"`
	DisplayPhoneNumber     string `json:"displayPhoneNumber"`
	VerifiedName           string `json:"verifiedName"`
	CodeVerificationStatus string `json:"codeVerificationStatus"`
	Usable                 bool   `json:"usable"`
	Reason                 string `json:"reason"`
	IntegrationID          string `json:"integrationId"`
}

func (h *harness) available(user, query string) map[string]availableJSON {
	h.t.Helper()
	var page struct{ Items []availableJSON }
	if s := h.do(user, "GET", "/v1/integrations/available"+query, nil, &page); s != http.StatusOK {
		h.t.Fatalf("%s lists available numbers: %d", user, s)
	}
	out := map[string]availableJSON{}
	for _, n := range page.Items {
		out[n.PhoneNumberID] = n
	}
	return out
}

// assertUnclaimed: the number has no claim and the org no profile for it.
func (h *harness) assertUnclaimed(org, pnid string) {
	h.t.Helper()
	ctx := context.Background()
	if in, err := h.App.Store.IntegrationByPhoneNumber(ctx, pnid); !apperr.Is(err, apperr.NotFound) {
		h.t.Errorf("number %s is claimed (%+v, %v)", pnid, in, err)
	}
	list, err := h.App.Store.Integrations(ctx, org)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range list {
		if in.PhoneNumberID == pnid {
			h.t.Errorf("%s has a profile for %s: %+v", org, pnid, in)
		}
	}
}

// TestConnectingANumberProvesOwnership: today anyone who knew a phone
// number id could claim it. Now the token must read the number, the number
// must be in the WABA named and verified by Meta; otherwise 422 and
// nothing is claimed.
func TestConnectingANumberProvesOwnership(t *testing.T) {
	h := newHarness(t, nil)
	body := func(pnid, waba, token string, assignees ...string) map[string]any {
		b := newIntegrationBody("Proof", pnid, assignees...)
		b["wabaId"], b["accessToken"] = waba, token
		return b
	}
	for _, c := range []struct {
		name              string
		body              map[string]any
		wantCode, wantMsg string
	}{
		{"a token of another WABA", body("100000000000002", "300", "EAAG-other"), "whatsapp_access_denied", "cannot read phone number id 100000000000002"},
		{"another number's token", body("100000000000002", "300", "EAAG-secret-100000000000003"), "whatsapp_access_denied", "cannot read phone number id 100000000000002"},
		{"a token Meta does not know", body("100000000000002", "300", "EAAG-made-up"), "whatsapp_access_denied", "cannot read"},
		{"the number under another WABA", body("100000000000010", "300", "EAAG-other"), "whatsapp_access_denied", "cannot read WhatsApp Business Account 300"},
		{"a number not in the WABA named", body("100000000000002", "200", "EAAG-waba-300"), "whatsapp_access_denied", "cannot read WhatsApp Business Account 200"},
		{"a number Meta has not verified", body("100000000000008", "300", "EAAG-secret-100000000000008"), "number_unusable", "not verified"},
	} {
		var e apiError
		if s := h.do("u-admin", "POST", "/v1/integrations", c.body, &e); s != http.StatusUnprocessableEntity || e.Error.Code != c.wantCode || !strings.Contains(e.Error.Message, c.wantMsg) {
			t.Errorf("%s: %d %s %q, want 422 %s", c.name, s, e.Error.Code, e.Error.Message, c.wantCode)
		}
		h.assertUnclaimed("acme", c.body["phoneNumberId"].(string))
	}
	if h.Sim.Subscribed("300") {
		t.Error("the app was subscribed to a WABA no request proved")
	}

	// The number's own token, or its WABA's, proves it; the app is
	// subscribed to the WABA and the display number comes from Meta.
	b := body("100000000000002", "300", "EAAG-waba-300")
	delete(b, "displayPhone")
	var got integJSON
	if s := h.do("u-admin", "POST", "/v1/integrations", b, &got); s != http.StatusCreated || got.DisplayPhone != "15550100002" {
		t.Fatalf("create with the WABA's token: %d %+v", s, got)
	}
	if !h.Sim.Subscribed("300") {
		t.Error("the app is not subscribed to WABA 300's webhooks")
	}
	// Already claimed: 409 before Meta is even asked.
	var e apiError
	if s := h.do("u-eve", "POST", "/v1/integrations", body("100000000000002", "300", "EAAG-other", "u-eve"), &e); s != http.StatusConflict {
		t.Errorf("another org claiming a claimed number with a token that cannot read it: %d %q, want 409", s, e.Error.Code)
	}
}

// TestEmbeddedSignup: the frontend's code becomes a business token, the
// WABA's numbers are listed with what stops each, and a number is
// connected without the admin ever seeing a token.
func TestEmbeddedSignup(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if got := h.available("u-admin", ""); len(got) != 0 {
		t.Errorf("available before any signup: %v", got)
	}
	var e apiError
	if s := h.do("u-admin", "POST", "/v1/integrations/connect", map[string]any{"code": "sim-code-forged", "wabaId": "300"}, &e); s != http.StatusUnprocessableEntity || e.Error.Code != "signup_failed" {
		t.Errorf("a forged code: %d %q, want 422 signup_failed", s, e.Error.Code)
	}
	// A code for WABA 400 does not open WABA 300.
	code, err := h.Sim.Signup("400")
	if err != nil {
		t.Fatal(err)
	}
	if s := h.do("u-admin", "POST", "/v1/integrations/connect", map[string]any{"code": code, "wabaId": "300"}, &e); s != http.StatusUnprocessableEntity || e.Error.Code != "whatsapp_access_denied" {
		t.Errorf("a code for another WABA: %d %q, want 422 whatsapp_access_denied", s, e.Error.Code)
	}
	if conns, _ := h.App.Store.Connections(ctx, "acme"); len(conns) != 0 {
		t.Errorf("refused signups kept %d connections", len(conns))
	}

	code, _ = h.Sim.Signup("300")
	var page struct{ Items []availableJSON }
	if s := h.do("u-admin", "POST", "/v1/integrations/connect", map[string]any{"code": " " + code + " ", "wabaId": "300"}, &page); s != http.StatusOK || len(page.Items) != 8 {
		t.Fatalf("connect: %d, %d numbers, want 200 and 8", s, len(page.Items))
	}
	if !h.Sim.Subscribed("300") {
		t.Error("the app is not subscribed to the connected WABA")
	}
	got := h.available("u-admin", "?wabaId=300")
	if n := got["100000000000008"]; n.Usable || n.Reason != integration.ReasonNotVerified || n.CodeVerificationStatus != "NOT_VERIFIED" {
		t.Errorf("unverified number: %+v", n)
	}
	if n := got["100000000000002"]; !n.Usable || n.Reason != "" || n.VerifiedName != "Acme" || n.DisplayPhoneNumber != "15550100002" || n.WABAID != "300" {
		t.Errorf("a usable number: %+v", n)
	}

	// Connect one without a token: the connection's token is used.
	b := newIntegrationBody("Signed up", "100000000000002")
	delete(b, "accessToken")
	var integ integJSON
	if s := h.do("u-admin", "POST", "/v1/integrations", b, &integ); s != http.StatusCreated || !integ.HasAccessToken {
		t.Fatalf("create from the connection: %d %+v", s, integ)
	}
	stored, _ := h.App.Store.Integration(ctx, "acme", integ.ID)
	if stored.TokenRef != integration.ConnectionTokenRef("acme", "300") {
		t.Errorf("token ref %q, want the connection's", stored.TokenRef)
	}
	if tok, err := h.App.Integrations.AccessToken(ctx, stored); err != nil || !strings.HasPrefix(tok, "sim-business-token-") {
		t.Errorf("the profile's token %q, %v: want the business token", tok, err)
	}
	// A WABA not connected needs a token.
	b = newIntegrationBody("No token", "100000000000010")
	delete(b, "accessToken")
	if s := h.do("u-admin", "POST", "/v1/integrations", b, &e); s != http.StatusBadRequest || !strings.Contains(e.Error.Message, "accessToken") {
		t.Errorf("no token for a WABA never connected: %d %q", s, e.Error.Message)
	}

	// Another org signs up for the same WABA: the number acme connected is
	// claimed for it; for acme it is connected, then deactivated.
	code, _ = h.Sim.Signup("300")
	if s := h.do("u-eve", "POST", "/v1/integrations/connect", map[string]any{"code": code, "wabaId": "300"}, nil); s != http.StatusOK {
		t.Fatalf("eve connects WABA 300: %d", s)
	}
	if n := h.available("u-eve", "")["100000000000002"]; n.Usable || n.Reason != integration.ReasonClaimed || n.IntegrationID != "" {
		t.Errorf("for eve, acme's number: %+v, want claimed and no id of acme's", n)
	}
	if n := h.available("u-admin", "")["100000000000002"]; n.Reason != integration.ReasonConnected || n.IntegrationID != integ.ID {
		t.Errorf("for acme, its number: %+v, want connected as %s", n, integ.ID)
	}
	if s := h.do("u-admin", "DELETE", "/v1/integrations/"+integ.ID+"?confirm=true", nil, nil); s != http.StatusOK {
		t.Fatal(s)
	}
	if n := h.available("u-admin", "")["100000000000002"]; n.Reason != integration.ReasonDeactivated || n.IntegrationID != integ.ID {
		t.Errorf("for acme, its deactivated number: %+v", n)
	}
	if n := h.available("u-eve", "")["100000000000002"]; !n.Usable {
		t.Errorf("for eve, the released number: %+v, want usable", n)
	}
}
