package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/inbox"
)

// recordJSON is a record as the API returns it.
type recordJSON struct {
	ID        string            `json:"id"`
	Org       string            `json:"org"`
	Module    string            `json:"module"`
	FirstName string            `json:"firstName"`
	LastName  string            `json:"lastName"`
	Email     string            `json:"email"`
	Phone     string            `json:"phone"`
	Company   string            `json:"company"`
	Title     string            `json:"title"`
	WaID      string            `json:"waId"`
	OwnerID   string            `json:"ownerId"`
	Fields    map[string]string `json:"fields"`
}

// recordFixture has a customer write in, and returns the path of their
// record and their conversation's id.
func recordFixture(t *testing.T, h *harness) (path, convID string, rec recordJSON) {
	t.Helper()
	h.customerWrites("15551239999", "Zoë Li", "wamid.rec1", "hello")
	var convs convPage
	if s := h.do("u-admin", "GET", "/v1/conversations", nil, &convs); s != http.StatusOK || len(convs.Items) != 1 {
		t.Fatalf("conversations: %d, %d items", s, len(convs.Items))
	}
	convID = convs.Items[0].ID
	conv, err := h.App.Store.Conversation(context.Background(), "acme", convID)
	if err != nil {
		t.Fatal(err)
	}
	path = "/v1/records/" + string(conv.Record.Module) + "/" + conv.Record.ID
	if s := h.do("u-sam", "GET", path, nil, &rec); s != http.StatusOK {
		t.Fatalf("GET %s: %d", path, s)
	}
	return path, convID, rec
}

func TestRecordGet(t *testing.T) {
	h := newHarness(t, nil)
	path, _, rec := recordFixture(t, h)
	if rec.Module != "Leads" || rec.FirstName != "Zoë" || rec.LastName != "Li" || rec.WaID != "15551239999" ||
		rec.Phone != "+15551239999" || rec.Org != "acme" || (rec.OwnerID != "u-sam" && rec.OwnerID != "u-lee") {
		t.Errorf("record %+v", rec)
	}
	var lower recordJSON
	if s := h.do("u-lee", "GET", strings.Replace(path, "Leads", "leads", 1), nil, &lower); s != http.StatusOK || lower.ID != rec.ID {
		t.Errorf("lower-case module: %d %+v", s, lower)
	}
	tests := []struct {
		user, path string
		want       int
		code       string
	}{
		{"u-eve", path, http.StatusNotFound, "not_found"},                                          // another org
		{"u-sam", strings.Replace(path, "Leads", "Contacts", 1), http.StatusNotFound, "not_found"}, // wrong module
		{"u-sam", "/v1/records/Leads/rec_nothing", http.StatusNotFound, "not_found"},
		{"u-sam", strings.Replace(path, "Leads", "Deals", 1), http.StatusBadRequest, "invalid"},
		{"", path, http.StatusUnauthorized, "unauthenticated"},
	}
	for _, tt := range tests {
		var e apiError
		if s := h.do(tt.user, "GET", tt.path, nil, &e); s != tt.want || e.Error.Code != tt.code {
			t.Errorf("%s GET %s: %d %q, want %d %s", tt.user, tt.path, s, e.Error.Code, tt.want, tt.code)
		}
	}
}

func TestRecordPatchFields(t *testing.T) {
	h := newHarness(t, nil)
	path, _, rec := recordFixture(t, h)
	nonOwner := "u-sam"
	if rec.OwnerID == "u-sam" {
		nonOwner = "u-lee"
	}
	// Any user of the org edits fields; absent ones stay.
	var got recordJSON
	s := h.do(nonOwner, "PATCH", path, map[string]any{
		"firstName": " Zoe ", "email": "zoe@example.com", "company": "Li & Co", "title": "CTO", "phone": "+44 20 7946 0958",
		"fields": map[string]any{"Budget": "5000", "Lead Source": "WhatsApp"},
	}, &got)
	if s != http.StatusOK || got.FirstName != "Zoe" || got.LastName != "Li" || got.Email != "zoe@example.com" || got.Company != "Li & Co" ||
		got.Title != "CTO" || got.Phone != "+44 20 7946 0958" || got.Fields["Budget"] != "5000" || got.OwnerID != rec.OwnerID || got.WaID != rec.WaID {
		t.Fatalf("patch: %d %+v", s, got)
	}
	// Fields merge: null removes, a name in another case replaces.
	var merged recordJSON
	s = h.do(nonOwner, "PATCH", path, map[string]any{"fields": map[string]any{"Budget": nil, "lead source": "Ads"}, "email": ""}, &merged)
	if s != http.StatusOK || len(merged.Fields) != 1 || merged.Fields["lead source"] != "Ads" || merged.Email != "" || merged.Company != "Li & Co" {
		t.Errorf("merge fields: %d %+v", s, merged)
	}
	var again recordJSON
	h.do("u-admin", "GET", path, nil, &again)
	if again.FirstName != "Zoe" || again.Fields["lead source"] != "Ads" {
		t.Errorf("stored %+v", again)
	}

	tests := []struct {
		name string
		body any
		want int
		msg  string
	}{
		{"bad email", map[string]any{"email": "zoe at example"}, http.StatusBadRequest, "email"},
		{"email with a name", map[string]any{"email": "Zoe <zoe@example.com>"}, http.StatusBadRequest, "email"},
		{"bad phone", map[string]any{"phone": "ask reception"}, http.StatusBadRequest, "phone"},
		{"long name", map[string]any{"lastName": strings.Repeat("x", 201)}, http.StatusBadRequest, "lastName"},
		{"control character", map[string]any{"firstName": "Zo\u0007e"}, http.StatusBadRequest, "firstName"},
		{"field name with ]", map[string]any{"fields": map[string]any{"a]b": "x"}}, http.StatusBadRequest, "a]b"},
		{"read-only waId", map[string]any{"waId": "15550000000"}, http.StatusBadRequest, "waId"},
		{"read-only module", map[string]any{"module": "Contacts"}, http.StatusBadRequest, "module"},
		{"unknown field", map[string]any{"nickname": "Z"}, http.StatusBadRequest, "nickname"},
		{"empty owner", map[string]any{"ownerId": " "}, http.StatusBadRequest, "ownerId"},
		{"unknown owner", map[string]any{"ownerId": "u-ghost"}, http.StatusBadRequest, "u-ghost"},
		{"another org's owner", map[string]any{"ownerId": "u-eve"}, http.StatusBadRequest, "u-eve"},
	}
	for _, tt := range tests {
		var e apiError
		if s := h.do("u-admin", "PATCH", path, tt.body, &e); s != tt.want || !strings.Contains(e.Error.Message, tt.msg) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tt.name, s, e.Error.Message, tt.want, tt.msg)
		}
	}
	if s := h.do("u-eve", "PATCH", path, map[string]any{"firstName": "Eve was here"}, nil); s != http.StatusNotFound {
		t.Errorf("another org's PATCH: %d, want 404", s)
	}
	if s := h.do("u-sam", "PATCH", "/v1/records/Deals/x", map[string]any{"firstName": "X"}, nil); s != http.StatusBadRequest {
		t.Errorf("unknown module PATCH: %d, want 400", s)
	}
	h.do("u-admin", "GET", path, nil, &again)
	if again.FirstName != "Zoe" || again.OwnerID != rec.OwnerID {
		t.Errorf("refused patches changed the record: %+v", again)
	}
}

// TestRecordOwnerChange: only the owner or an admin gives a record away,
// and its conversations follow, so the Messages tab's owner filter agrees.
func TestRecordOwnerChange(t *testing.T) {
	h := newHarness(t, nil)
	path, convID, rec := recordFixture(t, h)
	owner, other := rec.OwnerID, "u-sam"
	if owner == "u-sam" {
		other = "u-lee"
	}
	owned := func(user string) []string {
		var page convPage
		if s := h.do("u-admin", "GET", "/v1/conversations?owner="+user, nil, &page); s != http.StatusOK {
			t.Fatalf("owner filter: %d", s)
		}
		var ids []string
		for _, c := range page.Items {
			ids = append(ids, c.ID)
		}
		return ids
	}
	if got := owned(owner); !slices.Equal(got, []string{convID}) {
		t.Fatalf("%s owns %v before, want [%s]", owner, got, convID)
	}

	var e apiError
	if s := h.do(other, "PATCH", path, map[string]any{"ownerId": other}, &e); s != http.StatusForbidden || e.Error.Code != "forbidden" {
		t.Errorf("a non-owner taking the record: %d %q, want 403 forbidden", s, e.Error.Code)
	}
	var got recordJSON
	if s := h.do(other, "PATCH", path, map[string]any{"ownerId": owner, "title": "CEO"}, &got); s != http.StatusOK || got.Title != "CEO" {
		t.Errorf("a non-owner naming the current owner again: %d %+v, want 200", s, got)
	}

	// The owner hands it over.
	if s := h.do(owner, "PATCH", path, map[string]any{"ownerId": other}, &got); s != http.StatusOK || got.OwnerID != other {
		t.Fatalf("owner hands over: %d %+v", s, got)
	}
	var conv struct {
		OwnerID string `json:"ownerId"`
	}
	h.do("u-admin", "GET", "/v1/conversations/"+convID, nil, &conv)
	if conv.OwnerID != other {
		t.Errorf("conversation owner %q, want %q", conv.OwnerID, other)
	}
	if got := owned(other); !slices.Equal(got, []string{convID}) {
		t.Errorf("%s owns %v, want [%s]", other, got, convID)
	}
	if got := owned(owner); len(got) != 0 {
		t.Errorf("%s still owns %v", owner, got)
	}
	var mine convPage
	h.do(other, "GET", "/v1/conversations?owner=me", nil, &mine)
	if len(mine.Items) != 1 {
		t.Errorf("owner=me for the new owner: %d conversations, want 1", len(mine.Items))
	}

	// An admin moves anyone's record.
	if s := h.do("u-admin", "PATCH", path, map[string]any{"ownerId": "u-admin"}, &got); s != http.StatusOK || got.OwnerID != "u-admin" {
		t.Fatalf("admin reassigns: %d %+v", s, got)
	}
	if got := owned("u-admin"); !slices.Equal(got, []string{convID}) {
		t.Errorf("u-admin owns %v, want [%s]", got, convID)
	}

	// A conversation out of step is repaired by sending the same owner again.
	ctx := context.Background()
	if _, err := h.App.Store.UpdateConversation(ctx, "acme", convID, func(c *inbox.Conversation) error { c.OwnerID = "u-lee"; return nil }); err != nil {
		t.Fatal(err)
	}
	if s := h.do("u-admin", "PATCH", path, map[string]any{"ownerId": "u-admin"}, nil); s != http.StatusOK {
		t.Fatalf("repairing PATCH: %d", s)
	}
	if got := owned("u-admin"); !slices.Equal(got, []string{convID}) {
		t.Errorf("after the repairing PATCH u-admin owns %v, want [%s]", got, convID)
	}
}

func TestUsersList(t *testing.T) {
	h := newHarness(t, nil)
	type usersPage struct {
		Items []struct {
			UserID string   `json:"userId"`
			Name   string   `json:"name"`
			Groups []string `json:"groups"`
		} `json:"items"`
		Cursor string `json:"cursor"`
	}
	var ids []string
	cursor := ""
	for range 5 {
		var page usersPage
		if s := h.do("u-sam", "GET", "/v1/users?limit=2&cursor="+cursor, nil, &page); s != http.StatusOK {
			t.Fatalf("users: %d", s)
		}
		for _, u := range page.Items {
			ids = append(ids, u.UserID)
		}
		if cursor = page.Cursor; cursor == "" {
			break
		}
	}
	if want := []string{"u-admin", "u-lee", "u-sam"}; !slices.Equal(ids, want) {
		t.Errorf("acme's users %v, want %v", ids, want)
	}
	var theirs usersPage
	if s := h.do("u-eve", "GET", "/v1/users", nil, &theirs); s != http.StatusOK || len(theirs.Items) != 1 || theirs.Items[0].UserID != "u-eve" {
		t.Errorf("other org's users: %d %+v", s, theirs)
	}
	for _, q := range []string{"?limit=0", "?limit=500", "?cursor=bogus"} {
		if s := h.do("u-sam", "GET", "/v1/users"+q, nil, nil); s != http.StatusBadRequest {
			t.Errorf("users%s: %d, want 400", q, s)
		}
	}
	if s := h.do("", "GET", "/v1/users", nil, nil); s != http.StatusUnauthorized {
		t.Errorf("users without a token: %d, want 401", s)
	}
}
