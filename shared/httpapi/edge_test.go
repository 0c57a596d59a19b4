package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// reencode decodes an API cursor (base64url JSON), lets edit change its
// fields and encodes it again: what a client tampering with one would do.
func reencode(t *testing.T, cursor string, edit func(map[string]any)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// innerCursor returns the table's own cursor inside an API cursor, decoded.
func innerCursor(t *testing.T, cursor string) map[string]any {
	var inner map[string]any
	reencode(t, cursor, func(m map[string]any) {
		s, _ := m["c"].(string)
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("inner cursor %q: %v", s, err)
		}
		if err := json.Unmarshal(b, &inner); err != nil {
			t.Fatalf("inner cursor %q: %v", s, err)
		}
	})
	return inner
}

func withInner(t *testing.T, cursor string, edit func(map[string]any)) string {
	inner := innerCursor(t, cursor)
	edit(inner)
	b, _ := json.Marshal(inner)
	return reencode(t, cursor, func(m map[string]any) { m["c"] = base64.RawURLEncoding.EncodeToString(b) })
}

func TestForgedAndForeignCursorsAre400(t *testing.T) {
	h := newHarness(t, nil)
	start := h.Now
	for i := range 4 {
		h.Now = start.Add(time.Duration(i) * time.Minute)
		h.customerWrites(fmt.Sprintf("1555000001%d", i), "C", fmt.Sprintf("wamid.c%d", i), "hi")
	}
	var convs convPage
	h.do("u-sam", "GET", "/v1/conversations?limit=1", nil, &convs)
	if convs.Cursor == "" {
		t.Fatal("no cursor on the first page")
	}
	id := convs.Items[0].ID
	h.customerWrites("15550000010", "C", "wamid.c0b", "again") // a second message: its list has two pages
	var msgs struct {
		Cursor string `json:"cursor"`
	}
	var all convPage
	h.do("u-sam", "GET", "/v1/conversations", nil, &all)
	for _, c := range all.Items {
		h.do("u-sam", "GET", "/v1/conversations/"+c.ID+"/messages?limit=1", nil, &msgs)
		if msgs.Cursor != "" {
			id = c.ID
			break
		}
	}
	if msgs.Cursor == "" {
		t.Fatal("no conversation with a second page of messages")
	}
	messagesPath := "/v1/conversations/" + id + "/messages"

	tests := []struct {
		name, path, cursor string
	}{
		{"not base64", "/v1/conversations", "%%%"},
		{"base64 of junk", "/v1/conversations", base64.RawURLEncoding.EncodeToString([]byte("junk"))},
		{"inner cursor junk", "/v1/conversations", reencode(t, convs.Cursor, func(m map[string]any) { m["c"] = "bm90IGEgY3Vyc29y" })},
		{"inner cursor not base64", "/v1/conversations", reencode(t, convs.Cursor, func(m map[string]any) { m["c"] = "%%" })},
		{"inner cursor of another partition", "/v1/conversations", withInner(t, convs.Cursor, func(m map[string]any) { m["ipk"] = "ORG#other#CONV" })},
		{"inner cursor without keys", "/v1/conversations", withInner(t, convs.Cursor, func(m map[string]any) { m["sk"], m["isk"] = "", "" })},
		{"inner sort key outside the list", messagesPath, withInner(t, msgs.Cursor, func(m map[string]any) { m["sk"] = "ZZZ#" + fmt.Sprint(m["sk"]) })},
		{"messages cursor on conversations", "/v1/conversations", msgs.Cursor},
		{"conversations cursor on messages", messagesPath, convs.Cursor},
		{"owner list cursor on the activity list", "/v1/conversations?owner=u-sam", convs.Cursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := "?"
			if strings.Contains(tt.path, "?") {
				sep = "&"
			}
			var e apiError
			got := h.do("u-sam", "GET", tt.path+sep+"cursor="+url.QueryEscape(tt.cursor), nil, &e)
			if got != http.StatusBadRequest || e.Error.Code != "invalid" {
				t.Errorf("status %d %+v, want 400 invalid", got, e)
			}
		})
	}
	// Another org's user replaying a cursor: 400 as well.
	var e apiError
	if got := h.do("u-eve", "GET", "/v1/conversations?limit=1&cursor="+url.QueryEscape(convs.Cursor), nil, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" {
		t.Errorf("other org: %d %+v", got, e)
	}
}

// A "last 2 hours" list moves with the clock: a cursor taken before the
// items it points at fell out of the span still answers, with what is left.
func TestCursorOutlivedBySpan(t *testing.T) {
	h := newHarness(t, nil)
	start := h.Now
	for i := range 3 {
		h.Now = start.Add(time.Duration(i) * time.Minute)
		h.customerWrites(fmt.Sprintf("1555000002%d", i), "C", fmt.Sprintf("wamid.s%d", i), "hi")
	}
	for _, q := range []string{"messageTime=2h", "unanswered=2h"} {
		var p1 convPage
		if got := h.do("u-sam", "GET", "/v1/conversations?limit=1&"+q, nil, &p1); got != 200 || p1.Cursor == "" {
			t.Fatalf("%s: %d, cursor %q", q, got, p1.Cursor)
		}
		saved := h.Now
		h.Now = start.Add(2*time.Hour + time.Minute/2) // the first item fell out of the span
		var p2 convPage
		var e apiError
		if got := h.do("u-sam", "GET", "/v1/conversations?limit=1&"+q+"&cursor="+url.QueryEscape(p1.Cursor), nil, &p2); got != 200 {
			t.Errorf("%s: page two after the span moved: %d %s", q, got, e.Error.Message)
		}
		for _, c := range p2.Items {
			if c.ID == p1.Items[0].ID {
				t.Errorf("%s: page two repeats page one", q)
			}
		}
		h.Now = saved
	}
}

// The bearer token is read from the Authorization header only; a token in
// the query string (which ends up in access logs and browser history) is
// accepted by the WebSocket alone, never by an HTTP route.
func TestTokenInQueryRefused(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/v1/conversations", "/v1/canned-responses", "/v1/views", "/v1/users"} {
		for _, upgrade := range []string{"", "websocket"} {
			req, _ := http.NewRequest("GET", h.Server.URL+path+"?token="+url.QueryEscape(h.Tokens["u-sam"]), nil)
			if upgrade != "" {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", upgrade)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || errorCode(raw) != "unauthenticated" {
				t.Errorf("%s?token= (upgrade %q): %d %s, want 401", path, upgrade, resp.StatusCode, raw)
			}
		}
	}
}

// Every refusal, routing ones included, is the API's JSON error shape.
func TestRoutingErrorsAreJSON(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		method, path string
		want         int
		code, allow  string
	}{
		{"PUT", "/v1/conversations", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/v1/conversations/c1", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/v1/conversations/c1/messages", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/users", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/canned-responses/x", http.StatusMethodNotAllowed, "method_not_allowed", "DELETE, GET, HEAD, PATCH"},
		{"GET", "/v1/nothing-here", http.StatusNotFound, "not_found", ""},
		{"GET", "/v1/conversations/c1/nothing", http.StatusNotFound, "not_found", ""},
		{"DELETE", "/v1/nothing-here", http.StatusNotFound, "not_found", ""},
	}
	for _, tt := range tests {
		for _, user := range []string{"u-sam", ""} {
			req, _ := http.NewRequest(tt.method, h.Server.URL+tt.path, nil)
			if user != "" {
				req.Header.Set("Authorization", "Bearer "+h.Tokens[user])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || errorCode(raw) != tt.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s (user %q): %d %s %q, want %d %s", tt.method, tt.path, user, resp.StatusCode, resp.Header.Get("Content-Type"), raw, tt.want, tt.code)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
			}
		}
	}
}

// Query values are checked, not read leniently: a typo is a 400 that names
// the parameter, never a filter silently dropped.
func TestQueryValuesValidated(t *testing.T) {
	h := newHarness(t, nil)
	h.customerWrites("15550000031", "C", "wamid.q1", "hi")
	var list convPage
	h.do("u-sam", "GET", "/v1/conversations", nil, &list)
	conv := list.Items[0].ID
	bad := []struct{ path, param string }{
		{"/v1/conversations?windowOpen=yes", "windowOpen"},

		{"/v1/conversations?windowOpen=1", "windowOpen"},
		{"/v1/conversations?unanswered=maybe", "unanswered"},
		{"/v1/conversations?unanswered=0d", "unanswered"},
		{"/v1/conversations?unanswered=3d&unanswered=all", "unanswered"},
		{"/v1/conversations?answered=yesterday", "answered"},
		{"/v1/conversations?answered=1.5d", "answered"},
		{"/v1/conversations?messageTime=99999d", "messageTime"},

		{"/v1/conversations?limit=ten", "limit"},
		{"/v1/conversations?limit=-1", "limit"},
		{"/v1/conversations?limit=101", "limit"},
		{"/v1/conversations?limit=5&limit=6", "limit"},

		{"/v1/conversations?windowopen=true", "windowopen"},
		{"/v1/conversations?ownr=me", "ownr"},
		{"/v1/conversations/" + conv + "/messages?limit=201", "limit"},
		{"/v1/conversations/" + conv + "/messages?order=sideways", "order"},
		{"/v1/conversations/" + conv + "/attachments?limit=0", "limit"},
		{"/v1/canned-responses?module=Deals", "module"},
		{"/v1/canned-responses?limit=x", "limit"},
		{"/v1/users?limit=1000", "limit"},
		{"/v1/views?limit=10", "limit"},
		{"/v1/conversations/" + conv + "?verbose=1", "verbose"},
	}
	for _, tt := range bad {
		var e apiError
		if got := h.do("u-sam", "GET", tt.path, nil, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, tt.param) {
			t.Errorf("%s: %d %+v, want 400 invalid naming %q", tt.path, got, e, tt.param)
		}
	}
	good := []string{
		"/v1/conversations?windowOpen=true", "/v1/conversations?windowOpen=false",
		"/v1/conversations?unanswered=all&owner=me", "/v1/conversations?answered=today",
		"/v1/conversations?view=sent-today", "/v1/conversations?limit=100",
		"/v1/conversations/" + conv + "/messages?limit=200",
		"/v1/canned-responses?module=Leads&q=hi",
	}
	for _, path := range good {
		if got := h.do("u-sam", "GET", path, nil, nil); got != http.StatusOK {
			t.Errorf("%s: %d, want 200", path, got)
		}
	}
}
