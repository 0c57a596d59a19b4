package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

type convPage struct {
	Items []struct {
		ID              string     `json:"id"`
		OwnerID         string     `json:"ownerId"`
		AnsweredBy      string     `json:"answeredBy"`
		UnansweredSince *time.Time `json:"unansweredSince"`
		Window          struct {
			Open      bool       `json:"open"`
			ExpiresAt *time.Time `json:"expiresAt"`
		} `json:"window"`
	} `json:"items"`
	Cursor string `json:"cursor"`
}

func TestConversationsAuth(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage token", "Bearer nope", http.StatusUnauthorized},
		{"wrong scheme", "Basic " + h.Tokens["u-sam"], http.StatusUnauthorized},
		{"valid token", "Bearer " + h.Tokens["u-sam"], http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.Server.URL+"/v1/conversations", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// An expired token is refused.
	h.Now = h.Now.Add(73 * time.Hour)
	var e apiError
	if got := h.do("u-sam", "GET", "/v1/conversations", nil, &e); got != http.StatusUnauthorized || e.Error.Code != "unauthenticated" {
		t.Errorf("expired token: %d %+v", got, e)
	}
}

func TestConversationsFiltersAndViews(t *testing.T) {
	h := newHarness(t, nil)
	start := h.Now
	// Five customers write an hour apart; round-robin gives them to u-lee and u-sam.
	for i := range 5 {
		h.Now = start.Add(time.Duration(i) * time.Hour)
		h.customerWrites(fmt.Sprintf("1555000000%d", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("wamid.%d", i), "hi")
	}
	h.Now = start.Add(5 * time.Hour)

	var all convPage
	if got := h.do("u-sam", "GET", "/v1/conversations", nil, &all); got != 200 || len(all.Items) != 5 {
		t.Fatalf("list: %d, %d items", got, len(all.Items))
	}
	for _, c := range all.Items {
		if !c.Window.Open || c.Window.ExpiresAt == nil {
			t.Errorf("conversation %s: window %+v, want open", c.ID, c.Window)
		}
	}
	// Newest activity first, paged.
	var p1, p2, p3 convPage
	h.do("u-sam", "GET", "/v1/conversations?limit=2", nil, &p1)
	h.do("u-sam", "GET", "/v1/conversations?limit=2&cursor="+url.QueryEscape(p1.Cursor), nil, &p2)
	h.do("u-sam", "GET", "/v1/conversations?limit=2&cursor="+url.QueryEscape(p2.Cursor), nil, &p3)
	if len(p1.Items) != 2 || len(p2.Items) != 2 || len(p3.Items) != 1 || p3.Cursor != "" {
		t.Fatalf("pages %d/%d/%d, last cursor %q", len(p1.Items), len(p2.Items), len(p3.Items), p3.Cursor)
	}
	if p1.Items[0].ID != all.Items[0].ID || p3.Items[0].ID != all.Items[4].ID {
		t.Errorf("paging order differs from the full list")
	}

	count := func(user, query string) int {
		t.Helper()
		var p convPage
		if got := h.do(user, "GET", "/v1/conversations?"+query, nil, &p); got != 200 {
			t.Fatalf("%s: status %d", query, got)
		}
		return len(p.Items)
	}
	mine := count("u-sam", "owner=me")
	if mine+count("u-sam", "owner=u-lee") != 5 || mine == 0 {
		t.Errorf("owner filter: me=%d", mine)
	}
	if got := count("u-sam", "unanswered=2h"); got != 2 { // written at +3h and +4h
		t.Errorf("unanswered=2h: %d, want 2", got)
	}
	if got := count("u-sam", "unanswered=all"); got != 5 {
		t.Errorf("unanswered=all: %d, want 5", got)
	}
	if got := count("u-sam", "messageTime=2h&owner=me"); got > mine {
		t.Errorf("combined filters widened the result")
	}
	if got := count("u-sam", "answered=1w"); got != 0 {
		t.Errorf("answered=1w: %d, want 0", got)
	}

	// Built-in and saved views.
	var views struct {
		Items []struct {
			ID      string `json:"id"`
			Builtin bool   `json:"builtin"`
		} `json:"items"`
	}
	h.do("u-sam", "GET", "/v1/views", nil, &views)
	if len(views.Items) != 3 {
		t.Fatalf("views: %+v", views.Items)
	}
	if got := count("u-sam", "view=all-unanswered"); got != 5 {
		t.Errorf("all-unanswered view: %d", got)
	}
	var created struct {
		ID string `json:"id"`
	}
	if got := h.do("u-sam", "POST", "/v1/views", map[string]any{"name": "Mine, recent", "query": map[string]any{"owner": "me", "messageTime": "1d"}}, &created); got != http.StatusCreated {
		t.Fatalf("create view: %d", got)
	}
	if got := count("u-sam", "view="+created.ID); got != mine {
		t.Errorf("saved view: %d, want %d", got, mine)
	}
	// Views are per user: another user of the org does not see it.
	var e apiError
	if got := h.do("u-lee", "GET", "/v1/conversations?view="+created.ID, nil, &e); got != http.StatusNotFound {
		t.Errorf("other user's view: %d", got)
	}
	if got := h.do("u-sam", "DELETE", "/v1/views/"+created.ID, nil, nil); got != http.StatusNoContent {
		t.Errorf("delete view: %d", got)
	}
	if got := h.do("u-sam", "DELETE", "/v1/views/"+created.ID, nil, nil); got != http.StatusNotFound {
		t.Errorf("delete twice: %d", got)
	}
	if got := h.do("u-sam", "DELETE", "/v1/views/unanswered", nil, nil); got != http.StatusBadRequest {
		t.Errorf("delete built-in: %d", got)
	}

	// Bad input is a clear 400.
	for _, q := range []string{"unanswered=3x", "messageTime=-1d", "limit=0", "limit=1000", "cursor=bogus"} {
		var e apiError
		if got := h.do("u-sam", "GET", "/v1/conversations?"+q, nil, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Message == "" {
			t.Errorf("%s: %d %+v", q, got, e)
		}
	}
	for _, body := range []map[string]any{{"name": "", "query": map[string]any{"owner": "me"}}, {"name": "x", "query": map[string]any{}}, {"name": "x", "bogus": 1}} {
		if got := h.do("u-sam", "POST", "/v1/views", body, nil); got != http.StatusBadRequest {
			t.Errorf("create view %v: %d", body, got)
		}
	}
}

func TestConversationViewAndMessages(t *testing.T) {
	h := newHarness(t, nil)
	h.customerWrites("15550000001", "Ana", "wamid.a1", "first")
	h.Now = h.Now.Add(time.Minute)
	h.customerWrites("15550000001", "Ana", "wamid.a2", "second 👋")
	var list convPage
	h.do("u-sam", "GET", "/v1/conversations", nil, &list)
	id := list.Items[0].ID

	var conv struct {
		ID       string `json:"id"`
		Customer struct {
			WaID string `json:"waId"`
			Name string `json:"name"`
		} `json:"customer"`
		Window struct {
			Open      bool      `json:"open"`
			ExpiresAt time.Time `json:"expiresAt"`
		} `json:"window"`
		UnreadCount int `json:"unreadCount"`
	}
	if got := h.do("u-sam", "GET", "/v1/conversations/"+id, nil, &conv); got != 200 {
		t.Fatalf("get: %d", got)
	}
	if conv.Customer.Name != "Ana" || !conv.Window.Open || !conv.Window.ExpiresAt.Equal(h.Now.Add(24*time.Hour)) || conv.UnreadCount != 2 {
		t.Errorf("conversation %+v", conv)
	}
	var msgs struct {
		Items []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"items"`
	}
	h.do("u-sam", "GET", "/v1/conversations/"+id+"/messages", nil, &msgs)
	if len(msgs.Items) != 2 || msgs.Items[0].Text != "first" || msgs.Items[1].Text != "second 👋" {
		t.Errorf("messages %+v", msgs.Items)
	}
	// Newest first: the conversation view opens on its latest page and
	// pages back in time; the cursor keeps its order.
	var newest struct {
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
		Cursor string `json:"cursor"`
	}
	if got := h.do("u-sam", "GET", "/v1/conversations/"+id+"/messages?order=desc&limit=1", nil, &newest); got != 200 || len(newest.Items) != 1 || newest.Items[0].Text != "second 👋" || newest.Cursor == "" {
		t.Errorf("newest first: %d %+v", got, newest)
	}
	cursor := newest.Cursor
	if got := h.do("u-sam", "GET", "/v1/conversations/"+id+"/messages?order=desc&limit=1&cursor="+url.QueryEscape(cursor), nil, &newest); got != 200 || len(newest.Items) != 1 || newest.Items[0].Text != "first" {
		t.Errorf("newest first, page 2: %d %+v", got, newest)
	}
	if got := h.do("u-sam", "GET", "/v1/conversations/"+id+"/messages?order=asc&limit=1&cursor="+url.QueryEscape(cursor), nil, nil); got != http.StatusBadRequest {
		t.Errorf("a newest-first cursor in the oldest-first list: %d, want 400", got)
	}
	var atts struct {
		Items []any `json:"items"`
	}
	if got := h.do("u-sam", "GET", "/v1/conversations/"+id+"/attachments", nil, &atts); got != 200 || len(atts.Items) != 0 {
		t.Errorf("attachments: %d %v", got, atts.Items)
	}
	// Another org: 404 on everything, and an empty list.
	for _, path := range []string{"/v1/conversations/" + id, "/v1/conversations/" + id + "/messages", "/v1/conversations/" + id + "/attachments"} {
		var e apiError
		if got := h.do("u-eve", "GET", path, nil, &e); got != http.StatusNotFound || e.Error.Code != "not_found" {
			t.Errorf("other org %s: %d %+v", path, got, e)
		}
	}
	var other convPage
	if h.do("u-eve", "GET", "/v1/conversations", nil, &other); len(other.Items) != 0 {
		t.Errorf("other org lists %d conversations", len(other.Items))
	}
	// A cursor from one list cannot be replayed on another conversation.
	var p1 struct {
		Cursor string `json:"cursor"`
	}
	h.do("u-sam", "GET", "/v1/conversations/"+id+"/messages?limit=1", nil, &p1)
	if got := h.do("u-eve", "GET", "/v1/conversations?cursor="+url.QueryEscape(p1.Cursor), nil, nil); got != http.StatusBadRequest {
		t.Errorf("replayed cursor: %d", got)
	}
}
