package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type cannedJSON struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Module    string    `json:"module"`
	Name      string    `json:"name"`
	Text      string    `json:"text"`
	CreatedBy string    `json:"createdBy"`
	UpdatedBy string    `json:"updatedBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type cannedPage struct {
	Items  []cannedJSON `json:"items"`
	Cursor string       `json:"cursor"`
}

// createCanned creates a response as user and returns it.
func (h *harness) createCanned(user, module, name, text string) cannedJSON {
	h.t.Helper()
	var c cannedJSON
	if got := h.do(user, "POST", "/v1/canned-responses", map[string]string{"module": module, "name": name, "text": text}, &c); got != http.StatusCreated {
		h.t.Fatalf("create canned %q: status %d", name, got)
	}
	return c
}

func TestCannedResponsesCRUD(t *testing.T) {
	h := newHarness(t, nil)
	created := h.createCanned("u-sam", "Leads", "  🎉 Welcome ñandú ", "Hi $[Leads.First Name] 👋")
	want := cannedJSON{ID: created.ID, Org: "acme", Module: "Leads", Name: "🎉 Welcome ñandú", Text: "Hi $[Leads.First Name] 👋",
		CreatedBy: "u-sam", CreatedAt: h.Now, UpdatedAt: h.Now}
	if created != want || !strings.HasPrefix(created.ID, "canned_") {
		t.Fatalf("created %+v\nwant    %+v", created, want)
	}
	path := "/v1/canned-responses/" + created.ID

	// Any user of the org reads and edits it; no admin needed.
	var got cannedJSON
	if s := h.do("u-lee", "GET", path, nil, &got); s != http.StatusOK || got != want {
		t.Fatalf("GET: %d %+v", s, got)
	}
	h.Now = h.Now.Add(time.Minute)
	var edited cannedJSON
	s := h.do("u-lee", "PATCH", path, map[string]any{"name": "Welcome back", "text": "Hello again $[Leads.Company]", "module": "leads"}, &edited)
	want.Name, want.Text, want.UpdatedBy, want.UpdatedAt = "Welcome back", "Hello again $[Leads.Company]", "u-lee", h.Now
	if s != http.StatusOK || edited != want {
		t.Fatalf("PATCH: %d\n got  %+v\n want %+v", s, edited, want)
	}

	refusals := []struct {
		name     string
		body     any
		status   int
		code     string
		inMesage string
	}{
		{"module change", map[string]any{"module": "Contacts"}, http.StatusConflict, "module_immutable", "cannot change"},
		{"module change with a rename", map[string]any{"module": "Contacts", "name": "Renamed"}, http.StatusConflict, "module_immutable", "Contacts"},
		{"unknown module", map[string]any{"module": "Deals"}, http.StatusBadRequest, "invalid", "module"},
		{"text with another module's fields", map[string]any{"text": "Hi $[Contacts.First Name] $[Deals.Stage]"}, http.StatusBadRequest, "invalid", "$[Contacts.First Name], $[Deals.Stage]"},
		{"blank name", map[string]any{"name": " "}, http.StatusBadRequest, "invalid", "name"},
		{"unknown field", map[string]any{"title": "x"}, http.StatusBadRequest, "invalid", "title"},
		{"wrong type", map[string]any{"name": 5}, http.StatusBadRequest, "invalid", "name"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if s := h.do("u-sam", "PATCH", path, tt.body, &e); s != tt.status || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.inMesage) {
				t.Errorf("status %d %+v, want %d %s mentioning %q", s, e, tt.status, tt.code, tt.inMesage)
			}
		})
	}
	if s := h.do("u-sam", "GET", path, nil, &got); s != http.StatusOK || got != want {
		t.Errorf("refused edits changed the response: %+v", got)
	}
	// An empty patch, or one that only repeats the module, changes nothing.
	for _, body := range []map[string]any{{}, {"module": "Leads"}, {"module": nil}} {
		if s := h.do("u-sam", "PATCH", path, body, &got); s != http.StatusOK || got != want {
			t.Errorf("no-op PATCH %v: %d %+v", body, s, got)
		}
	}

	if s := h.do("u-admin", "DELETE", path, nil, nil); s != http.StatusNoContent {
		t.Fatalf("DELETE: %d", s)
	}
	var e apiError
	if s := h.do("u-sam", "GET", path, nil, &e); s != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("GET after DELETE: %d %+v", s, e)
	}
	if s := h.do("u-sam", "DELETE", path, nil, nil); s != http.StatusNotFound {
		t.Errorf("second DELETE: %d", s)
	}
	if s := h.do("u-sam", "PATCH", path, map[string]any{"name": "x"}, nil); s != http.StatusNotFound {
		t.Errorf("PATCH after DELETE: %d", s)
	}
}

func TestCannedResponsesCreateValidation(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name    string
		body    any
		status  int
		inMsg   string
		created string // the stored name when accepted
	}{
		{"4096 emoji text", map[string]string{"module": "Contacts", "name": "Long", "text": strings.Repeat("😀", 4096)}, http.StatusCreated, "", "Long"},
		{"100 character name", map[string]string{"module": "Leads", "name": strings.Repeat("é", 100), "text": "x"}, http.StatusCreated, "", strings.Repeat("é", 100)},
		{"lowercase module", map[string]string{"module": "contacts", "name": "Dank", "text": "Dag $[Contacts.Last Name]"}, http.StatusCreated, "", "Dank"},
		{"no module", map[string]string{"name": "A", "text": "b"}, http.StatusBadRequest, "module", ""},
		{"unknown module", map[string]string{"module": "Deals", "name": "A", "text": "b"}, http.StatusBadRequest, "module", ""},
		{"no name", map[string]string{"module": "Leads", "text": "b"}, http.StatusBadRequest, "name is required", ""},
		{"101 character name", map[string]string{"module": "Leads", "name": strings.Repeat("é", 101), "text": "b"}, http.StatusBadRequest, "101 characters", ""},
		{"no text", map[string]string{"module": "Leads", "name": "A"}, http.StatusBadRequest, "text is required", ""},
		{"4097 character text", map[string]string{"module": "Leads", "name": "A", "text": strings.Repeat("a", 4097)}, http.StatusBadRequest, "4097 characters", ""},
		{"contact fields in a lead response", map[string]string{"module": "Leads", "name": "A", "text": "Hi $[Contacts.First Name] and $[Contacts.Email]"}, http.StatusBadRequest, "$[Contacts.First Name], $[Contacts.Email]", ""},
		{"not JSON", "nope", http.StatusBadRequest, "JSON", ""},
		{"unknown field", map[string]string{"module": "Leads", "name": "A", "text": "b", "owner": "u-sam"}, http.StatusBadRequest, "owner", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct {
				cannedJSON
				apiError
			}
			s := h.do("u-lee", "POST", "/v1/canned-responses", tt.body, &out)
			if s != tt.status {
				t.Fatalf("status %d %+v, want %d", s, out.apiError, tt.status)
			}
			if tt.status != http.StatusCreated {
				if out.Error.Code != "invalid" || !strings.Contains(out.Error.Message, tt.inMsg) {
					t.Errorf("error %+v, want invalid mentioning %q", out.Error, tt.inMsg)
				}
				return
			}
			if out.Name != tt.created || out.CreatedBy != "u-lee" {
				t.Errorf("created %+v", out.cannedJSON)
			}
		})
	}
}

// listNames follows every page of a list and returns the names.
func (h *harness) listNames(user string, query url.Values) []string {
	h.t.Helper()
	var out []string
	for range 50 {
		var p cannedPage
		if s := h.do(user, "GET", "/v1/canned-responses?"+query.Encode(), nil, &p); s != http.StatusOK {
			h.t.Fatalf("list %s: %d", query.Encode(), s)
		}
		for _, c := range p.Items {
			out = append(out, c.Name)
		}
		if p.Cursor == "" {
			return out
		}
		query.Set("cursor", p.Cursor)
	}
	h.t.Fatal("more than 50 pages")
	return nil
}

func TestCannedResponsesListSearchAndPaging(t *testing.T) {
	h := newHarness(t, nil)
	for _, c := range [][2]string{
		{"Leads", "Morning greeting"}, {"Leads", "Greeting ☀️"}, {"Leads", "Follow-up (demo)"}, {"Leads", "Price list"},
		{"Contacts", "Greeting for customers"}, {"Contacts", "Renewal"}, {"Contacts", "Ñandú"},
	} {
		h.createCanned("u-sam", c[0], c[1], "Hello")
	}
	h.createCanned("u-eve", "Leads", "Greeting from another org", "Hello")

	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"leads", url.Values{"module": {"Leads"}}, []string{"Follow-up (demo)", "Greeting ☀️", "Morning greeting", "Price list"}},
		{"contacts, any case", url.Values{"module": {"contacts"}}, []string{"Greeting for customers", "Renewal", "Ñandú"}},
		{"both modules", url.Values{}, []string{"Follow-up (demo)", "Greeting for customers", "Greeting ☀️", "Morning greeting", "Price list", "Renewal", "Ñandú"}},
		// Ordered by the part of the name that matched: "greeting", "greeting for ...", "greeting ☀️".
		{"search both modules", url.Values{"q": {"greet"}}, []string{"Morning greeting", "Greeting for customers", "Greeting ☀️"}},
		{"search leads", url.Values{"module": {"Leads"}, "q": {"GREETING"}}, []string{"Morning greeting", "Greeting ☀️"}},
		{"search a later word", url.Values{"q": {"demo"}}, []string{"Follow-up (demo)"}},
		{"search accented", url.Values{"q": {"ñ"}}, []string{"Ñandú"}},
		{"search emoji", url.Values{"q": {"☀️"}}, []string{"Greeting ☀️"}},
		{"no match", url.Values{"q": {"zzz"}}, nil},
	}
	for _, tt := range tests {
		for _, limit := range []string{"", "1", "2"} {
			q := url.Values{}
			for k, v := range tt.query {
				q[k] = v
			}
			if limit != "" {
				q.Set("limit", limit)
			}
			if got := h.listNames("u-lee", q); !slices.Equal(got, tt.want) {
				t.Errorf("%s, limit %q:\n got  %q\n want %q", tt.name, limit, got, tt.want)
			}
		}
	}
	if got := h.listNames("u-eve", url.Values{}); !slices.Equal(got, []string{"Greeting from another org"}) {
		t.Errorf("other org lists %q", got)
	}

	var first cannedPage
	if s := h.do("u-lee", "GET", "/v1/canned-responses?module=Leads&limit=1", nil, &first); s != http.StatusOK || first.Cursor == "" {
		t.Fatalf("first page: %d %+v", s, first)
	}
	bad := []struct{ name, query string }{
		{"unknown module", "module=Deals"},
		{"limit 0", "limit=0"},
		{"limit 101", "limit=101"},
		{"garbage cursor", "cursor=xyz"},
		{"cursor of another module", "module=Contacts&cursor=" + first.Cursor},
		{"cursor of another list", "q=greet&module=Leads&cursor=" + first.Cursor},
	}
	for _, tt := range bad {
		var e apiError
		if s := h.do("u-lee", "GET", "/v1/canned-responses?"+tt.query, nil, &e); s != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("%s: %d %+v, want 400 invalid", tt.name, s, e)
		}
	}
	// Another org's user cannot continue acme's list with its cursor.
	var e apiError
	if s := h.do("u-eve", "GET", "/v1/canned-responses?module=Leads&cursor="+first.Cursor, nil, &e); s != http.StatusBadRequest {
		t.Errorf("other org with acme's cursor: %d %+v", s, e)
	}
}

func TestCannedResponsesOtherOrgAndAuth(t *testing.T) {
	h := newHarness(t, nil)
	acme := h.createCanned("u-sam", "Leads", "Greeting", "Hi")
	path := "/v1/canned-responses/" + acme.ID
	for _, tt := range []struct {
		method string
		body   any
	}{
		{"GET", nil},
		{"PATCH", map[string]any{"name": "Mine now"}},
		{"PATCH", map[string]any{"module": "Contacts"}}, // 404 before the module check: nothing leaks
		{"PATCH", map[string]any{}},
		{"DELETE", nil},
	} {
		var e apiError
		if s := h.do("u-eve", tt.method, path, tt.body, &e); s != http.StatusNotFound || e.Error.Code != "not_found" {
			t.Errorf("u-eve %s %v: %d %+v, want 404", tt.method, tt.body, s, e)
		}
	}
	var got cannedJSON
	if s := h.do("u-sam", "GET", path, nil, &got); s != http.StatusOK || got.Name != "Greeting" {
		t.Errorf("after the other org's attempts: %d %+v", s, got)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/canned-responses"}, {"POST", "/v1/canned-responses"},
		{"GET", path}, {"PATCH", path}, {"DELETE", path},
	} {
		if s := h.do("", tt.method, tt.path, map[string]any{}, nil); s != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", tt.method, tt.path, s)
		}
	}
}
