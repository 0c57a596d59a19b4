package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// The walk: every /v1 route, called with acme's ids by u-eve (admin of org
// "other"), by u-sam (not an admin) on admin-only routes, and without a
// token. The org comes only from the token, so acme's objects must be
// invisible to eve exactly as ids that do not exist. A route registered in
// the source without a row here fails TestWalk, so a new route only adds a
// row.

// walkKind is what u-eve must get.
type walkKind int

const (
	walkNotFound walkKind = iota // 404 not_found
	walkList                     // 200, and nothing of acme's in it
	walkCreate                   // 201 in eve's org; acme cannot see it
	walkInvalid                  // 400 invalid: an acme id eve named in a body or cursor means nothing in her org
	walkRefused                  // 422: a proof acme used (an Embedded Signup code) proves nothing for eve
	walkOwn                      // 2xx with her own org's object (a singleton: the settings, the billing); acme's stays
)

type walkRow struct {
	route string // as registered: "METHOD /template"
	path  string // an instance of the template, with acme's ids
	body  any
	kind  walkKind
	admin bool   // admin only: u-sam gets 403 forbidden
	seeAt string // walkCreate: path prefix where acme would see the new object (+ its id)
}

// walkFixture holds acme's objects and eve's own conversation.
type walkFixture struct {
	conv, conv2, rec, canned, view, integ, cursor string
	upload                                        string // acme's attachment, uploaded and ready
	signupCode                                    string // acme's Embedded Signup code, spent
	ledgerCursor                                  string
	notification                                  string
	eveConv, eveRec                               string
	secrets                                       []string // strings that identify acme's data
}

func newWalkFixture(t *testing.T, h *harness) walkFixture {
	t.Helper()
	ctx := context.Background()
	var f walkFixture
	pnid := h.Integ.PhoneNumberID
	customerSends(t, h, pnid, "15550001111", "Ana Díaz", "wamid.walk.ana", map[string]any{"type": "image",
		"image": map[string]any{"id": "media-ana", "mime_type": "image/png", "caption": "acme-invoice"}})
	h.Now = h.Now.Add(time.Minute)
	customerSends(t, h, pnid, "15550002222", "Bo Li", "wamid.walk.bo", map[string]any{"type": "text", "text": map[string]any{"body": "acme-hello"}})

	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Record struct {
				ID string `json:"id"`
			} `json:"record"`
		} `json:"items"`
		Cursor string `json:"cursor"`
	}
	if s := h.do("u-sam", "GET", "/v1/conversations?limit=1", nil, &page); s != http.StatusOK || len(page.Items) != 1 || page.Cursor == "" {
		t.Fatalf("acme conversations: %d %+v", s, page)
	}
	f.conv, f.rec, f.cursor = page.Items[0].ID, page.Items[0].Record.ID, page.Cursor
	if s := h.do("u-sam", "GET", "/v1/conversations?cursor="+page.Cursor, nil, &page); s != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("acme conversations, page 2: %d %+v", s, page)
	}
	f.conv2 = page.Items[0].ID
	if _, err := h.App.Store.UpdateRecord(ctx, "acme", records.Leads, f.rec, func(r *records.Record) error {
		r.Company = "Acme Corp"
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var obj struct{ ID string }
	if s := h.do("u-sam", "POST", "/v1/canned-responses", map[string]any{"module": "Leads", "name": "Acme greeting", "text": "Hi $[Leads.First Name]"}, &obj); s != http.StatusCreated {
		t.Fatalf("acme canned response: %d", s)
	}
	f.canned = obj.ID
	if s := h.do("u-sam", "POST", "/v1/views", map[string]any{"name": "Acme waiting", "query": map[string]any{"unanswered": "all"}}, &obj); s != http.StatusCreated {
		t.Fatalf("acme view: %d", s)
	}
	f.view = obj.ID
	f.integ = h.Integ.ID
	code, err := h.Sim.Signup("300")
	if err != nil {
		t.Fatal(err)
	}
	if s := h.do("u-admin", "POST", "/v1/integrations/connect", map[string]any{"code": code, "wabaId": "300"}, nil); s != http.StatusOK {
		t.Fatalf("acme connects WABA 300: %d", s)
	}
	f.signupCode = code
	f.upload = uploadFile(t, h, "u-sam", "acme-quote.png", "image/png", testPNG).ID
	if s := h.do("u-admin", "PATCH", "/v1/settings", map[string]any{"timeZone": "Asia/Tokyo"}, nil); s != http.StatusOK {
		t.Fatalf("acme settings: %d", s)
	}
	storagetest.Fund(t, h.App.Store, "acme", 1) // a second ledger entry, so the first page has a cursor
	var ledger struct{ Cursor string }
	if s := h.do("u-admin", "GET", "/v1/billing/ledger?limit=1", nil, &ledger); s != http.StatusOK || ledger.Cursor == "" {
		t.Fatalf("acme ledger: %d %+v", s, ledger)
	}
	f.ledgerCursor = ledger.Cursor

	// Eve's org has a number and a customer of its own, so its lists are
	// not trivially empty and body ids can be tried on eve's objects.
	other := &integration.Integration{ID: "int-other", Org: "other", Nickname: "Other", PhoneNumberID: "100000000000002", WABAID: "201",
		Active: true, CreatedBy: "u-eve", Preferences: integration.Preferences{UnknownSenders: records.Contacts,
			Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-eve"}}}}
	if err := h.App.Store.CreateIntegration(ctx, other); err != nil {
		t.Fatal(err)
	}
	customerSends(t, h, other.PhoneNumberID, "15550009999", "Zoe Q", "wamid.walk.zoe", map[string]any{"type": "text", "text": map[string]any{"body": "hello"}})
	if s := h.do("u-eve", "GET", "/v1/conversations", nil, &page); s != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("other's conversations: %d %+v", s, page)
	}
	f.eveConv, f.eveRec = page.Items[0].ID, page.Items[0].Record.ID
	if s := h.do("u-eve", "POST", "/v1/canned-responses", map[string]any{"module": "Contacts", "name": "Other hello", "text": "Hello"}, nil); s != http.StatusCreated {
		t.Fatalf("other's canned response: %d", s)
	}

	// Acme's owner has a notification, and acme a setting of its own.
	f.notification = raiseNotification(t, h, f.conv)
	if s := h.do("u-admin", "PUT", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": 37}, nil); s != http.StatusOK {
		t.Fatalf("acme settings: %d", s)
	}

	f.secrets = []string{`"acme"`, f.notification, `"windowWarningMinutes":37`, f.conv, f.conv2, f.rec, f.canned, f.view, f.integ, pnid, "15550001111", "15550002222",
		"Ana Díaz", "Bo Li", "acme-invoice", "acme-hello", "Acme greeting", "Acme waiting", "Acme Corp", "acme-quote.png", f.upload, "u-sam", "u-lee", "u-admin", "Asia/Tokyo"}
	return f
}

func walkRows(f walkFixture) []walkRow {
	conv := "/v1/conversations/" + f.conv
	eveConv := "/v1/conversations/" + f.eveConv
	canned := "/v1/canned-responses/" + f.canned
	view := "/v1/views/" + f.view
	integ := "/v1/integrations/" + f.integ
	rec := "/v1/records/Leads/" + f.rec
	newInteg := func(pnid string, assign ...string) map[string]any {
		return map[string]any{"nickname": "Walk", "phoneNumberId": pnid, "wabaId": "300", "accessToken": "EAAG-secret-" + pnid,
			"preferences": map[string]any{"assign": map[string]any{"kind": "users", "ids": assign}}}
	}
	return []walkRow{
		{route: "GET /v1/conversations", path: "/v1/conversations", kind: walkList},
		{route: "GET /v1/conversations", path: "/v1/conversations?unanswered=all&owner=u-sam", kind: walkList},
		{route: "GET /v1/conversations", path: "/v1/conversations?view=" + f.view, kind: walkNotFound},
		{route: "GET /v1/conversations", path: "/v1/conversations?cursor=" + f.cursor, kind: walkInvalid},
		{route: "GET /v1/conversations/{id}", path: conv, kind: walkNotFound},
		{route: "GET /v1/conversations/{id}/messages", path: conv + "/messages", kind: walkNotFound},
		{route: "POST /v1/conversations/{id}/messages", path: conv + "/messages", body: map[string]any{"text": "Hi"}, kind: walkNotFound},
		{route: "POST /v1/conversations/{id}/messages", path: eveConv + "/messages", body: map[string]any{"cannedResponseId": f.canned}, kind: walkNotFound},
		{route: "GET /v1/conversations/{id}/attachments", path: conv + "/attachments", kind: walkNotFound},
		{route: "POST /v1/conversations/{id}/preview", path: conv + "/preview", body: map[string]any{"text": "Hi"}, kind: walkNotFound},
		{route: "POST /v1/conversations/{id}/preview", path: eveConv + "/preview", body: map[string]any{"cannedResponseId": f.canned}, kind: walkNotFound},

		{route: "POST /v1/attachments", path: "/v1/attachments", body: map[string]any{"name": "eve.pdf", "contentType": "application/pdf", "size": 1000},
			kind: walkCreate, seeAt: "/v1/attachments/"},
		{route: "GET /v1/attachments/{id}", path: "/v1/attachments/" + f.upload, kind: walkNotFound},
		{route: "POST /v1/attachments/{id}/complete", path: "/v1/attachments/" + f.upload + "/complete", kind: walkNotFound},

		{route: "GET /v1/canned-responses", path: "/v1/canned-responses", kind: walkList},
		{route: "GET /v1/canned-responses", path: "/v1/canned-responses?module=Leads&q=acme", kind: walkList},
		{route: "POST /v1/canned-responses", path: "/v1/canned-responses", body: map[string]any{"module": "Leads", "name": "Eve's", "text": "Hey"},
			kind: walkCreate, seeAt: "/v1/canned-responses/"},
		{route: "GET /v1/canned-responses/{id}", path: canned, kind: walkNotFound},
		{route: "PATCH /v1/canned-responses/{id}", path: canned, body: map[string]any{"name": "Taken"}, kind: walkNotFound},
		{route: "PATCH /v1/canned-responses/{id}", path: canned, body: map[string]any{"module": "Contacts"}, kind: walkNotFound},
		{route: "DELETE /v1/canned-responses/{id}", path: canned, kind: walkNotFound},

		{route: "GET /v1/views", path: "/v1/views", kind: walkList},
		{route: "POST /v1/views", path: "/v1/views", body: map[string]any{"name": "Eve's", "query": map[string]any{"owner": "me"}},
			kind: walkCreate, seeAt: "/v1/views/"},
		{route: "GET /v1/views/{id}", path: view, kind: walkNotFound},
		{route: "DELETE /v1/views/{id}", path: view, kind: walkNotFound},

		{route: "GET /v1/integrations", path: "/v1/integrations", kind: walkList, admin: true},
		{route: "POST /v1/integrations", path: "/v1/integrations", body: newInteg("100000000000003", "u-eve"),
			kind: walkCreate, admin: true, seeAt: "/v1/integrations/"},
		{route: "POST /v1/integrations", path: "/v1/integrations", body: newInteg("100000000000004", "u-sam"), kind: walkInvalid, admin: true},
		{route: "GET /v1/integrations/{id}", path: integ, kind: walkNotFound, admin: true},
		{route: "POST /v1/users", path: "/v1/users", body: map[string]any{"userId": "u-walk", "roles": []string{"sales"}}, kind: walkCreate, admin: true, seeAt: "/v1/users/"},
		{route: "GET /v1/users/{id}", path: "/v1/users/u-sam", kind: walkNotFound, admin: true},
		{route: "PATCH /v1/users/{id}", path: "/v1/users/u-sam", body: map[string]any{"disabled": true}, kind: walkNotFound, admin: true},
		{route: "DELETE /v1/users/{id}", path: "/v1/users/u-lee", kind: walkNotFound, admin: true},
		{route: "POST /v1/integrations/connect", path: "/v1/integrations/connect", body: map[string]any{"code": f.signupCode, "wabaId": "300"}, kind: walkRefused, admin: true},
		{route: "GET /v1/integrations/available", path: "/v1/integrations/available", kind: walkList, admin: true},
		{route: "GET /v1/integrations/available", path: "/v1/integrations/available?wabaId=300", kind: walkNotFound, admin: true},
		{route: "PATCH /v1/integrations/{id}", path: integ, body: map[string]any{"nickname": "Taken"}, kind: walkNotFound, admin: true},
		{route: "DELETE /v1/integrations/{id}", path: integ + "?confirm=true", kind: walkNotFound, admin: true},
		{route: "POST /v1/integrations/{id}/activate", path: integ + "/activate", kind: walkNotFound, admin: true},

		{route: "GET /v1/records/{module}/{id}", path: rec, kind: walkNotFound},
		{route: "PATCH /v1/records/{module}/{id}", path: rec, body: map[string]any{"company": "Taken"}, kind: walkNotFound},
		{route: "PATCH /v1/records/{module}/{id}", path: "/v1/records/Contacts/" + f.eveRec, body: map[string]any{"ownerId": "u-sam"}, kind: walkInvalid},

		{route: "GET /v1/users", path: "/v1/users", kind: walkList},

		{route: "GET /v1/settings", path: "/v1/settings", kind: walkOwn},
		{route: "PATCH /v1/settings", path: "/v1/settings", body: map[string]any{"timeZone": "Europe/Lisbon"}, kind: walkOwn, admin: true},
		{route: "GET /v1/billing", path: "/v1/billing", kind: walkOwn},
		{route: "PATCH /v1/billing", path: "/v1/billing", body: map[string]any{"model": "message"}, kind: walkOwn, admin: true},
		{route: "GET /v1/billing/rates", path: "/v1/billing/rates", kind: walkOwn, admin: true},
		{route: "GET /v1/billing/ledger", path: "/v1/billing/ledger", kind: walkList, admin: true},
		{route: "GET /v1/billing/ledger", path: "/v1/billing/ledger?cursor=" + f.ledgerCursor, kind: walkInvalid, admin: true},
		{route: "GET /v1/billing/usage", path: "/v1/billing/usage?from=2026-11-01&to=2026-12-01", kind: walkList, admin: true},
		{route: "POST /v1/billing/purchases", path: "/v1/billing/purchases", body: map[string]any{"credits": 100_000, "paymentMethod": "pm_card_visa"},
			kind: walkOwn, admin: true},
		{route: "PUT /v1/billing/auto-recharge", path: "/v1/billing/auto-recharge", body: map[string]any{"enabled": false}, kind: walkOwn, admin: true},
		{route: "GET /v1/notifications", path: "/v1/notifications?state=all", kind: walkList},
		{route: "POST /v1/notifications/{id}/snooze", path: "/v1/notifications/" + f.notification + "/snooze", body: map[string]any{"minutes": 15}, kind: walkNotFound},
		{route: "POST /v1/notifications/{id}/dismiss", path: "/v1/notifications/" + f.notification + "/dismiss", kind: walkNotFound},
		{route: "POST /v1/notifications/read", path: "/v1/notifications/read", kind: walkOwn},
		{route: "POST /v1/conversations/{id}/read", path: conv + "/read", kind: walkNotFound},
		{route: "GET /v1/settings/notifications", path: "/v1/settings/notifications", kind: walkOwn},
		{route: "PUT /v1/settings/notifications", path: "/v1/settings/notifications", body: map[string]any{"windowWarningMinutes": 30}, kind: walkOwn, admin: true},
	}
}

func TestWalk(t *testing.T) {
	h := newHarness(t, nil)
	f := newWalkFixture(t, h)
	rows := walkRows(f)

	// Every registered /v1 route has a row, and every row a registered route.
	registered := registeredRoutes(t)
	var covered []string
	for _, r := range rows {
		if !slices.Contains(registered, r.route) {
			t.Errorf("row %s %s: no such route is registered", r.route, r.path)
		}
		if !matchesTemplate(strings.SplitN(r.route, " ", 2)[1], strings.SplitN(r.path, "?", 2)[0]) {
			t.Errorf("row %s: path %s does not match", r.route, r.path)
		}
		covered = append(covered, r.route)
	}
	for _, r := range registered {
		if strings.Contains(r, " /v1/") && !slices.Contains(covered, r) {
			t.Errorf("%s has no row in walkRows: add one", r)
		}
	}

	t.Run("another org's ids", func(t *testing.T) {
		for _, r := range rows {
			var raw json.RawMessage
			method := strings.SplitN(r.route, " ", 2)[0]
			status := h.do("u-eve", method, r.path, r.body, &raw)
			body := string(raw)
			switch r.kind {
			case walkNotFound:
				if status != http.StatusNotFound || errorCode(raw) != "not_found" {
					t.Errorf("u-eve %s %s: %d %s, want 404 not_found", method, r.path, status, body)
				}
			case walkInvalid:
				if status != http.StatusBadRequest || errorCode(raw) != "invalid" {
					t.Errorf("u-eve %s %s: %d %s, want 400 invalid", method, r.path, status, body)
				}
			case walkRefused:
				if status != http.StatusUnprocessableEntity {
					t.Errorf("u-eve %s %s: %d %s, want 422", method, r.path, status, body)
				}
			case walkList:
				if status != http.StatusOK || !strings.Contains(body, `"items"`) {
					t.Errorf("u-eve %s %s: %d %s, want 200 and a page", method, r.path, status, body)
				}
			case walkOwn:
				if status/100 != 2 {
					t.Errorf("u-eve %s %s: %d %s, want 2xx with her org's own", method, r.path, status, body)
				}
			case walkCreate:
				var created struct {
					ID     string `json:"id"`
					UserID string `json:"userId"` // users are named by their identity provider's id
					Org    string `json:"org"`
				}
				_ = json.Unmarshal(raw, &created)
				if created.ID == "" {
					created.ID = created.UserID
				}
				if status != http.StatusCreated || created.ID == "" || (created.Org != "" && created.Org != "other") {
					t.Errorf("u-eve %s %s: %d %s, want 201 in org other", method, r.path, status, body)
					continue
				}
				seers := []string{"u-admin"}
				if !r.admin {
					seers = append(seers, "u-sam")
				}
				for _, u := range seers {
					if s := h.do(u, "GET", r.seeAt+created.ID, nil, nil); s != http.StatusNotFound {
						t.Errorf("%s sees eve's new %s: %d, want 404", u, r.seeAt+created.ID, s)
					}
				}
			}
			sent := r.path + mustJSON(t, r.body)
			for _, s := range f.secrets {
				// Echoing an id the request named leaks nothing.
				if strings.Contains(body, s) && !strings.Contains(sent, s) {
					t.Errorf("u-eve %s %s: the answer holds acme's %s: %s", method, r.path, s, body)
				}
			}
		}
	})

	t.Run("another user's saved view", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/views/" + f.view},
			{"DELETE", "/v1/views/" + f.view},
			{"GET", "/v1/conversations?view=" + f.view},
		} {
			var e apiError
			if s := h.do("u-lee", r.method, r.path, nil, &e); s != http.StatusNotFound || e.Error.Code != "not_found" {
				t.Errorf("u-lee %s %s: %d %+v, want 404", r.method, r.path, s, e)
			}
		}
		var views struct {
			Items []struct{ ID string } `json:"items"`
		}
		if s := h.do("u-lee", "GET", "/v1/views", nil, &views); s != http.StatusOK ||
			slices.ContainsFunc(views.Items, func(v struct{ ID string }) bool { return v.ID == f.view }) {
			t.Errorf("u-lee lists u-sam's view: %d %+v", s, views)
		}
	})

	t.Run("non-admin on admin routes", func(t *testing.T) {
		var n int
		for _, r := range rows {
			if !r.admin {
				continue
			}
			n++
			method := strings.SplitN(r.route, " ", 2)[0]
			var raw json.RawMessage
			if s := h.do("u-sam", method, r.path, r.body, &raw); s != http.StatusForbidden || errorCode(raw) != "forbidden" {
				t.Errorf("u-sam %s %s: %d %s, want 403 forbidden", method, r.path, s, raw)
			}
		}
		if n == 0 {
			t.Fatal("no admin-only rows")
		}
	})

	t.Run("acme is untouched", func(t *testing.T) {
		for _, id := range []string{"u-sam", "u-lee"} {
			var u struct{ Disabled bool }
			if s := h.do("u-admin", "GET", "/v1/users/"+id, nil, &u); s != http.StatusOK || u.Disabled {
				t.Errorf("acme user %s: %d %+v, want enabled", id, s, u)
			}
		}
		var conv struct {
			UnansweredSince *time.Time `json:"unansweredSince"`
			AnsweredBy      string     `json:"answeredBy"`
		}
		if s := h.do("u-sam", "GET", "/v1/conversations/"+f.conv, nil, &conv); s != http.StatusOK || conv.UnansweredSince == nil || conv.AnsweredBy != "" {
			t.Errorf("acme conversation: %d %+v, want unanswered", s, conv)
		}
		var msgs struct{ Items []json.RawMessage }
		if s := h.do("u-sam", "GET", "/v1/conversations/"+f.conv+"/messages", nil, &msgs); s != http.StatusOK || len(msgs.Items) != 1 {
			t.Errorf("acme messages: %d, %d items, want the customer's one", s, len(msgs.Items))
		}
		var canned struct{ Name, Module string }
		if s := h.do("u-sam", "GET", "/v1/canned-responses/"+f.canned, nil, &canned); s != http.StatusOK || canned.Name != "Acme greeting" || canned.Module != "Leads" {
			t.Errorf("acme canned response: %d %+v", s, canned)
		}
		if s := h.do("u-sam", "GET", "/v1/views/"+f.view, nil, nil); s != http.StatusOK {
			t.Errorf("acme view: %d", s)
		}
		var integ struct {
			Nickname string
			Active   bool
		}
		if s := h.do("u-admin", "GET", "/v1/integrations/"+f.integ, nil, &integ); s != http.StatusOK || integ.Nickname != "Sales" || !integ.Active {
			t.Errorf("acme integration: %d %+v", s, integ)
		}
		var list struct{ Items []json.RawMessage }
		if s := h.do("u-admin", "GET", "/v1/integrations", nil, &list); s != http.StatusOK || len(list.Items) != 1 {
			t.Errorf("acme integrations: %d, %d items, want only its own", s, len(list.Items))
		}
		var rec struct{ Company string }
		if s := h.do("u-sam", "GET", "/v1/records/Leads/"+f.rec, nil, &rec); s != http.StatusOK || rec.Company != "Acme Corp" {
			t.Errorf("acme record: %d %+v", s, rec)
		}
		var settings struct{ TimeZone string }
		if s := h.do("u-sam", "GET", "/v1/settings", nil, &settings); s != http.StatusOK || settings.TimeZone != "Asia/Tokyo" {
			t.Errorf("acme settings: %d %+v", s, settings)
		}
		h.Payments.Wait() // eve's purchase is credited to her org, never acme's
		var bill struct {
			Balance billing.Credits
			Model   string
		}
		if s := h.do("u-sam", "GET", "/v1/billing", nil, &bill); s != http.StatusOK || bill.Balance != harnessCredits+1 || bill.Model != "conversation" {
			t.Errorf("acme billing: %d %+v, want %d credits in the conversation model", s, bill, harnessCredits+1)
		}
	})

	t.Run("without a valid token", func(t *testing.T) {
		forged, err := (&auth.HMACIssuer{Issuer: h.Issuer.Issuer, Audience: h.Issuer.Audience, Key: []byte("not-the-key-not-the-key-not-the!"),
			Now: func() time.Time { return h.Now }}).Issue(auth.Principal{UserID: "u-admin", Org: "acme", Groups: []string{"admin"}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			method := strings.SplitN(r.route, " ", 2)[0]
			for _, authz := range []string{"", "Bearer " + forged} {
				req, _ := http.NewRequest(method, h.Server.URL+r.path, strings.NewReader(mustJSON(t, r.body)))
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var e apiError
				_ = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "unauthenticated" {
					t.Errorf("%s %s with %q: %d %+v, want 401", method, r.path, truncateString(authz, 20), resp.StatusCode, e)
				}
			}
		}
	})
}

func errorCode(raw []byte) string {
	var e apiError
	_ = json.Unmarshal(raw, &e)
	return e.Error.Code
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
