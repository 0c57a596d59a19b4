package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// integJSON is an integration as the API returns it.
type integJSON struct {
	ID             string `json:"id"`
	Org            string `json:"org"`
	Nickname       string `json:"nickname"`
	PhoneNumberID  string `json:"phoneNumberId"`
	WABAID         string `json:"wabaId"`
	DisplayPhone   string `json:"displayPhone"`
	Active         bool   `json:"active"`
	HasAccessToken bool   `json:"hasAccessToken"`
	CreatedBy      string `json:"createdBy"`
	Preferences    struct {
		UnknownSenders string `json:"unknownSenders"`
		Assign         struct {
			Kind string   `json:"kind"`
			IDs  []string `json:"ids"`
		} `json:"assign"`
	} `json:"preferences"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// newIntegrationBody is a valid create request; assignees default to two
// acme users.
func newIntegrationBody(nickname, pnid string, assignees ...string) map[string]any {
	if len(assignees) == 0 {
		assignees = []string{"u-sam", "u-lee"}
	}
	waba, token := "300", "EAAG-secret-"+pnid // see harnessWABAs
	switch pnid {
	case "100000000000001":
		waba, token = "200", "acme-token"
	case "100000000000010":
		waba, token = "400", "EAAG-other"
	}
	return map[string]any{
		"nickname": nickname, "phoneNumberId": pnid, "wabaId": waba, "displayPhone": "+1 555 010 0002",
		"accessToken": token,
		"preferences": map[string]any{"unknownSenders": "contacts", "assign": map[string]any{"kind": "users", "ids": assignees}},
	}
}

// raw sends a request and returns the status and the body as received.
func (h *harness) raw(user, method, path, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.Server.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+h.Tokens[user])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIntegrationsAdminOnlyAndOtherOrg(t *testing.T) {
	h := newHarness(t, nil)
	id := h.Integ.ID
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/integrations", nil},
		{"POST", "/v1/integrations", newIntegrationBody("New", "100000000000009")},
		{"GET", "/v1/integrations/" + id, nil},
		{"PATCH", "/v1/integrations/" + id, map[string]any{"nickname": "Mine"}},
		{"DELETE", "/v1/integrations/" + id + "?confirm=true", nil},
		{"POST", "/v1/integrations/" + id + "/activate", nil},
	}
	for _, rt := range routes {
		var e apiError
		if got := h.do("u-sam", rt.method, rt.path, rt.body, &e); got != http.StatusForbidden || e.Error.Code != "forbidden" {
			t.Errorf("non-admin %s %s: %d %q, want 403 forbidden", rt.method, rt.path, got, e.Error.Code)
		}
		if got := h.do("", rt.method, rt.path, rt.body, nil); got != http.StatusUnauthorized {
			t.Errorf("no token %s %s: %d, want 401", rt.method, rt.path, got)
		}
	}
	// Another org's admin: every route with acme's id is a 404.
	for _, rt := range routes[2:] {
		var e apiError
		if got := h.do("u-eve", rt.method, rt.path, rt.body, &e); got != http.StatusNotFound || e.Error.Code != "not_found" {
			t.Errorf("other org %s %s: %d %q, want 404 not_found", rt.method, rt.path, got, e.Error.Code)
		}
	}
	var list struct{ Items []integJSON }
	if got := h.do("u-eve", "GET", "/v1/integrations", nil, &list); got != http.StatusOK || len(list.Items) != 0 {
		t.Errorf("other org's list: %d, %d items; want 200 and none", got, len(list.Items))
	}
	if got, _ := h.App.Store.Integration(context.Background(), "acme", id); got.Nickname != "Sales" || !got.Active {
		t.Errorf("refused requests changed the integration: %+v", got)
	}
}

func TestIntegrationCreate(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	status, raw := h.raw("u-admin", "POST", "/v1/integrations", mustJSON(t, newIntegrationBody("Support", "100000000000002")))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, raw)
	}
	if strings.Contains(raw, "EAAG") || strings.Contains(raw, "accessToken") || strings.Contains(raw, "tokenRef") {
		t.Errorf("the response shows the token or where it is kept: %s", raw)
	}
	var got integJSON
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "int_") || got.Org != "acme" || got.Nickname != "Support" || got.PhoneNumberID != "100000000000002" ||
		got.WABAID != "300" || got.DisplayPhone != "+1 555 010 0002" || !got.Active || !got.HasAccessToken || got.CreatedBy != "u-admin" ||
		got.Preferences.UnknownSenders != "Contacts" || got.Preferences.Assign.Kind != "users" ||
		strings.Join(got.Preferences.Assign.IDs, ",") != "u-sam,u-lee" || !got.CreatedAt.Equal(h.Now) {
		t.Errorf("created %+v", got)
	}
	stored, err := h.App.Store.Integration(ctx, "acme", got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.TokenRef != "tokens/"+got.ID {
		t.Errorf("token ref %q, want tokens/%s", stored.TokenRef, got.ID)
	}
	if tok, err := h.App.Integrations.AccessToken(ctx, stored); err != nil || tok != "EAAG-secret-100000000000002" {
		t.Errorf("stored token %q, %v", tok, err)
	}

	var one integJSON
	if s := h.do("u-admin", "GET", "/v1/integrations/"+got.ID, nil, &one); s != http.StatusOK || one.ID != got.ID || !one.HasAccessToken {
		t.Errorf("get: %d %+v", s, one)
	}
	var list struct{ Items []integJSON }
	if s := h.do("u-admin", "GET", "/v1/integrations", nil, &list); s != http.StatusOK || len(list.Items) != 2 {
		t.Errorf("list: %d, %d items; want 2", s, len(list.Items))
	}

	// The number is now claimed: by another org a 409, in this org too.
	for _, user := range []string{"u-eve", "u-admin"} {
		var e apiError
		if s := h.do(user, "POST", "/v1/integrations", newIntegrationBody("Again", "100000000000002", user), &e); s != http.StatusConflict || e.Error.Code != "conflict" {
			t.Errorf("%s claiming a claimed number: %d %q %q, want 409 conflict", user, s, e.Error.Code, e.Error.Message)
		}
	}
	if s := h.do("u-eve", "POST", "/v1/integrations", newIntegrationBody("Theirs", h.Integ.PhoneNumberID, "u-eve"), nil); s != http.StatusConflict {
		t.Errorf("another org claiming the harness number: %d, want 409", s)
	}
}

func TestIntegrationCreateValidation(t *testing.T) {
	h := newHarness(t, nil)
	with := func(edit func(b map[string]any)) map[string]any {
		b := newIntegrationBody("Valid", "100000000000003")
		edit(b)
		return b
	}
	assign := func(kind string, ids ...string) func(map[string]any) {
		return func(b map[string]any) {
			b["preferences"] = map[string]any{"unknownSenders": "Leads", "assign": map[string]any{"kind": kind, "ids": ids}}
		}
	}
	tests := []struct {
		name string
		body any
		want string // part of the message
	}{
		{"phone number id with letters", with(func(b map[string]any) { b["phoneNumberId"] = "1065-40a" }), "phoneNumberId"},
		{"no phone number id", with(func(b map[string]any) { delete(b, "phoneNumberId") }), "phoneNumberId"},
		{"waba id not digits", with(func(b map[string]any) { b["wabaId"] = "waba" }), "wabaId"},
		{"empty nickname", with(func(b map[string]any) { b["nickname"] = "   " }), "nickname"},
		{"nickname too long", with(func(b map[string]any) { b["nickname"] = strings.Repeat("é", 61) }), "nickname"},
		{"no token", with(func(b map[string]any) { delete(b, "accessToken") }), "accessToken"},
		{"token with spaces", with(func(b map[string]any) { b["accessToken"] = "EAAG abc" }), "accessToken"},
		{"bad display phone", with(func(b map[string]any) { b["displayPhone"] = "call me" }), "displayPhone"},
		{"unknown module", with(func(b map[string]any) {
			b["preferences"] = map[string]any{"unknownSenders": "Deals", "assign": map[string]any{"kind": "user", "ids": []string{"u-sam"}}}
		}), "Leads or Contacts"},
		{"unknown kind", with(assign("team", "sales")), "kind"},
		{"no assignees", with(assign("users")), "users"},
		{"empty id", with(assign("users", "u-sam", " ")), "empty"},
		{"two users for kind user", with(assign("user", "u-sam", "u-lee")), "exactly one"},
		{"two groups", with(assign("group", "sales", "support")), "exactly one"},
		{"unknown user", with(assign("users", "u-sam", "u-ghost")), "u-ghost"},
		{"another org's user", with(assign("user", "u-eve")), "u-eve"},
		{"unknown field", with(func(b map[string]any) { b["token"] = "x" }), "token"},
		{"phone number id as a number", with(func(b map[string]any) { b["phoneNumberId"] = 100000000000003 }), "phoneNumberId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if s := h.do("u-admin", "POST", "/v1/integrations", tt.body, &e); s != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("%d %q %q; want 400 invalid mentioning %q", s, e.Error.Code, e.Error.Message, tt.want)
			}
		})
	}
	var list struct{ Items []integJSON }
	h.do("u-admin", "GET", "/v1/integrations", nil, &list)
	if len(list.Items) != 1 {
		t.Errorf("refused creates left %d integrations, want the harness's 1", len(list.Items))
	}
	// Groups and roles are names from the identity provider: any is accepted.
	var got integJSON
	if s := h.do("u-admin", "POST", "/v1/integrations", with(assign("role", "closers")), &got); s != http.StatusCreated || got.Preferences.Assign.Kind != "role" {
		t.Errorf("role assignment: %d %+v", s, got)
	}
}

func TestIntegrationUpdate(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	path := "/v1/integrations/" + h.Integ.ID
	h.Now = h.Now.Add(time.Minute)

	var got integJSON
	s := h.do("u-admin", "PATCH", path, map[string]any{
		"nickname":    "  Sales EU ",
		"preferences": map[string]any{"assign": map[string]any{"kind": "user", "ids": []string{"u-lee"}}},
	}, &got)
	if s != http.StatusOK || got.Nickname != "Sales EU" || got.Preferences.Assign.Kind != "user" || got.Preferences.UnknownSenders != "Leads" ||
		!got.UpdatedAt.Equal(h.Now) || got.PhoneNumberID != h.Integ.PhoneNumberID || !got.HasAccessToken {
		t.Fatalf("patch: %d %+v", s, got)
	}

	// Token rotation: the secret changes, the reference does not. A token
	// that cannot read the number is refused and changes nothing.
	var e apiError
	if s := h.do("u-admin", "PATCH", path, map[string]any{"accessToken": "EAAG-other"}, &e); s != http.StatusUnprocessableEntity || e.Error.Code != "whatsapp_access_denied" {
		t.Errorf("rotate to another WABA's token: %d %q, want 422 whatsapp_access_denied", s, e.Error.Code)
	}
	if s := h.do("u-admin", "PATCH", path, map[string]any{"accessToken": "acme-token-2"}, &got); s != http.StatusOK {
		t.Fatalf("rotate: %d", s)
	}
	stored, _ := h.App.Store.Integration(ctx, "acme", h.Integ.ID)
	if tok, err := h.App.Integrations.AccessToken(ctx, stored); err != nil || tok != "acme-token-2" || stored.TokenRef != h.Integ.TokenRef {
		t.Errorf("after rotation: token %q (%v), ref %q", tok, err, stored.TokenRef)
	}

	// Sending the object back unchanged is fine; changing the number is not.
	if s := h.do("u-admin", "PATCH", path, map[string]any{"phoneNumberId": h.Integ.PhoneNumberID, "wabaId": h.Integ.WABAID, "active": true, "nickname": "Sales"}, &got); s != http.StatusOK || got.Nickname != "Sales" {
		t.Errorf("echoed immutable fields: %d %+v", s, got)
	}
	for _, body := range []map[string]any{
		{"phoneNumberId": "100000000000042"},
		{"wabaId": "999"},
		{"active": false},
		{"nickname": ""},
		{"accessToken": ""},
		{"preferences": map[string]any{"unknownSenders": "Deals"}},
		{"preferences": map[string]any{"assign": map[string]any{"kind": "users", "ids": []string{"u-ghost"}}}},
	} {
		var e apiError
		if s := h.do("u-admin", "PATCH", path, body, &e); s != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("PATCH %v: %d %q, want 400 invalid", body, s, e.Error.Code)
		}
		for k := range body {
			if k != "preferences" && !strings.Contains(e.Error.Message, k) {
				t.Errorf("PATCH %v: message %q does not name %s", body, e.Error.Message, k)
			}
		}
	}
	after, _ := h.App.Store.Integration(ctx, "acme", h.Integ.ID)
	if after.PhoneNumberID != h.Integ.PhoneNumberID || after.WABAID != h.Integ.WABAID || !after.Active || after.Nickname != "Sales" {
		t.Errorf("refused patches changed the integration: %+v", after)
	}
}

// TestIntegrationDeactivation walks the whole life: confirmation, the
// number's webhooks dropped and replies refused, the number released to
// another org, and re-activation once it is free again.
func TestIntegrationDeactivation(t *testing.T) {
	h := newHarness(t, nil)
	path := "/v1/integrations/" + h.Integ.ID
	h.customerWrites("15551230001", "Zoë Li", "wamid.before", "hello")
	var convs convPage
	h.do("u-admin", "GET", "/v1/conversations", nil, &convs)
	if len(convs.Items) != 1 {
		t.Fatalf("%d conversations before deactivation, want 1", len(convs.Items))
	}
	convID := convs.Items[0].ID

	for _, tt := range []struct {
		name, query, body string
	}{
		{"no confirmation", "", ""},
		{"confirm=false", "?confirm=false", ""},
		{"wrong nickname", "", `{"confirm":"Support"}`},
	} {
		status, raw := h.raw("u-admin", "DELETE", path+tt.query, tt.body)
		var e apiError
		_ = json.Unmarshal([]byte(raw), &e)
		if status != http.StatusConflict || e.Error.Code != "confirmation_required" || !strings.Contains(e.Error.Message, `"Sales"`) {
			t.Errorf("%s: %d %s; want 409 confirmation_required naming the profile", tt.name, status, raw)
		}
	}
	if s, raw := h.raw("u-admin", "DELETE", path+"?confirm=maybe", ""); s != http.StatusBadRequest {
		t.Errorf("confirm=maybe: %d %s, want 400", s, raw)
	}
	if s, raw := h.raw("u-admin", "DELETE", path, `{"nickname":"Sales"}`); s != http.StatusBadRequest {
		t.Errorf("unknown body field: %d %s, want 400", s, raw)
	}
	if got, _ := h.App.Store.Integration(context.Background(), "acme", h.Integ.ID); !got.Active {
		t.Fatalf("unconfirmed deletes deactivated the integration")
	}

	var got integJSON
	if s, raw := h.raw("u-admin", "DELETE", path, `{"confirm":" sales "}`); s != http.StatusOK || json.Unmarshal([]byte(raw), &got) != nil || got.Active {
		t.Fatalf("confirmed by nickname: %d %s", s, raw)
	}
	if s := h.do("u-admin", "DELETE", path+"?confirm=true", nil, &got); s != http.StatusOK || got.Active {
		t.Errorf("deactivating again: %d %+v, want 200 inactive", s, got)
	}

	// The number's webhooks are dropped.
	dropped := h.App.Intake.Counts.UnknownNumber.Load()
	h.customerWrites("15551230001", "Zoë Li", "wamid.during", "anyone there?")
	h.customerWrites("15551230002", "New Person", "wamid.stranger", "hi")
	if got := h.App.Intake.Counts.UnknownNumber.Load() - dropped; got != 2 {
		t.Errorf("%d messages dropped while deactivated, want 2", got)
	}
	var msgs struct{ Items []struct{ ID string } }
	h.do("u-admin", "GET", "/v1/conversations/"+convID+"/messages", nil, &msgs)
	if len(msgs.Items) != 1 {
		t.Errorf("%d messages stored, want only the one from before", len(msgs.Items))
	}
	h.do("u-admin", "GET", "/v1/conversations", nil, &convs)
	if len(convs.Items) != 1 {
		t.Errorf("%d conversations, want 1: a stranger writing to a deactivated number must not create one", len(convs.Items))
	}
	// Replies are refused.
	var e apiError
	if s := h.do("u-sam", "POST", "/v1/conversations/"+convID+"/messages", map[string]any{"text": "hello?"}, &e); s != http.StatusUnprocessableEntity || e.Error.Code != "integration_inactive" {
		t.Errorf("reply from a deactivated number: %d %q, want 422 integration_inactive", s, e.Error.Code)
	}

	// The number is free: another org connects it, and acme cannot re-activate.
	var theirs integJSON
	if s := h.do("u-eve", "POST", "/v1/integrations", newIntegrationBody("Eve's", h.Integ.PhoneNumberID, "u-eve"), &theirs); s != http.StatusCreated {
		t.Fatalf("another org claiming the released number: %d", s)
	}
	if s := h.do("u-admin", "POST", path+"/activate", nil, &e); s != http.StatusConflict || e.Error.Code != "conflict" {
		t.Errorf("re-activating a number another org holds: %d %q, want 409 conflict", s, e.Error.Code)
	}
	if s := h.do("u-admin", "POST", "/v1/integrations", newIntegrationBody("Sales again", h.Integ.PhoneNumberID), &e); s != http.StatusConflict {
		t.Errorf("a second acme profile for its own number: %d, want 409", s)
	}
	if s := h.do("u-eve", "DELETE", "/v1/integrations/"+theirs.ID+"?confirm=true", nil, nil); s != http.StatusOK {
		t.Fatalf("other org deactivating: %d", s)
	}

	// Free again: re-activation works, twice, and messages flow.
	for i := range 2 {
		if s := h.do("u-admin", "POST", path+"/activate", nil, &got); s != http.StatusOK || !got.Active {
			t.Fatalf("activate #%d: %d %+v", i+1, s, got)
		}
	}
	h.customerWrites("15551230001", "Zoë Li", "wamid.after", "back?")
	h.do("u-admin", "GET", "/v1/conversations/"+convID+"/messages", nil, &msgs)
	if len(msgs.Items) != 2 {
		t.Errorf("%d messages after re-activation, want 2", len(msgs.Items))
	}
	if s := h.do("u-sam", "POST", "/v1/conversations/"+convID+"/messages", map[string]any{"text": "yes!"}, nil); s != http.StatusAccepted {
		t.Errorf("reply after re-activation: %d, want 202", s)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
