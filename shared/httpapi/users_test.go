package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
)

// ownersOfNewSenders has n new customers write to the harness number and
// returns the owners of their conversations, in order.
func (h *harness) ownersOfNewSenders(prefix string, n int) []string {
	h.t.Helper()
	var owners []string
	for i := range n {
		wa := fmt.Sprintf("1555%07d", len(prefix)*1000+i)
		h.customerWrites(wa, "Customer "+prefix, fmt.Sprintf("wamid.%s.%d", prefix, i), "hello")
		var page struct {
			Items []struct {
				OwnerID  string `json:"ownerId"`
				Customer struct {
					WaID string `json:"waId"`
				} `json:"customer"`
			} `json:"items"`
		}
		h.do("u-admin", "GET", "/v1/conversations?limit=100", nil, &page)
		for _, c := range page.Items {
			if c.Customer.WaID == wa {
				owners = append(owners, c.OwnerID)
			}
		}
		h.Now = h.Now.Add(time.Second)
	}
	return owners
}

// TestUsersBeforeFirstSignIn: an admin adds a user and a role; the user is
// named in a rule and gets customers before ever signing in; disabled, the
// round-robin skips them; a fixed assignee who is disabled hands new
// customers to the profile's creator; removed, they are gone from the list
// and a sign-in does not bring them back.
func TestUsersBeforeFirstSignIn(t *testing.T) {
	h := newHarness(t, nil)
	path := "/v1/integrations/" + h.Integ.ID
	var e apiError
	if s := h.do("u-admin", "PATCH", path, map[string]any{"preferences": map[string]any{"assign": map[string]any{"kind": "user", "ids": []string{"u-nia"}}}}, &e); s != http.StatusBadRequest {
		t.Errorf("a rule naming a user nobody added: %d, want 400", s)
	}
	var nia struct {
		UserID        string   `json:"userId"`
		AssignedRoles []string `json:"assignedRoles"`
		Disabled      bool     `json:"disabled"`
		AddedBy       string   `json:"addedBy"`
	}
	if s := h.do("u-admin", "POST", "/v1/users", map[string]any{"userId": " u-nia ", "name": "Nia", "roles": []string{"emea", " emea", "support"}}, &nia); s != http.StatusCreated ||
		nia.UserID != "u-nia" || strings.Join(nia.AssignedRoles, ",") != "emea,support" || nia.AddedBy != "u-admin" {
		t.Fatalf("add: %d %+v", s, nia)
	}

	// Role-based round-robin: u-nia (role from the admin) and u-sam (role
	// from his token) share new customers.
	sam := auth.Principal{UserID: "u-sam", Org: "acme", Name: "Sam", Groups: []string{"sales"}, Roles: []string{"emea"}}
	tok, err := h.Issuer.Issue(sam, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.Tokens["u-sam-emea"] = tok
	h.do("u-sam-emea", "GET", "/v1/users", nil, nil) // a sign-in records his roles
	if s := h.do("u-admin", "PATCH", path, map[string]any{"preferences": map[string]any{"assign": map[string]any{"kind": "role", "ids": []string{"emea"}}}}, nil); s != http.StatusOK {
		t.Fatal(s)
	}
	if got := strings.Join(h.ownersOfNewSenders("role", 4), ","); got != "u-nia,u-sam,u-nia,u-sam" {
		t.Errorf("role round-robin: %s", got)
	}

	// Disabled: the round-robin skips u-nia, and nobody can give her a record.
	if s := h.do("u-admin", "PATCH", "/v1/users/u-nia", map[string]any{"disabled": true}, &nia); s != http.StatusOK || !nia.Disabled {
		t.Fatalf("disable: %d %+v", s, nia)
	}
	if got := strings.Join(h.ownersOfNewSenders("disabled", 3), ","); got != "u-sam,u-sam,u-sam" {
		t.Errorf("round-robin with u-nia disabled: %s", got)
	}
	if s := h.do("u-admin", "PATCH", path, map[string]any{"preferences": map[string]any{"assign": map[string]any{"kind": "users", "ids": []string{"u-nia", "u-sam"}}}}, &e); s != http.StatusBadRequest || !strings.Contains(e.Error.Message, "u-nia") {
		t.Errorf("a rule naming a disabled user: %d %q, want 400", s, e.Error.Message)
	}

	// A fixed assignee disabled after the rule was set: the creator gets them.
	if s := h.do("u-admin", "PATCH", path, map[string]any{"preferences": map[string]any{"assign": map[string]any{"kind": "user", "ids": []string{"u-lee"}}}}, nil); s != http.StatusOK {
		t.Fatal(s)
	}
	if s := h.do("u-admin", "PATCH", "/v1/users/u-lee", map[string]any{"disabled": true}, nil); s != http.StatusOK {
		t.Fatal(s)
	}
	if got := strings.Join(h.ownersOfNewSenders("fixed", 2), ","); got != "u-admin,u-admin" {
		t.Errorf("fixed assignee disabled: %s, want the profile's creator", got)
	}
	// Nor can anyone give a disabled user a record by hand.
	var convs struct {
		Items []struct {
			Record struct {
				ID     string `json:"id"`
				Module string `json:"module"`
			} `json:"record"`
		} `json:"items"`
	}
	h.do("u-admin", "GET", "/v1/conversations?limit=1", nil, &convs)
	if len(convs.Items) != 1 {
		t.Fatal("no conversation")
	}
	rec := convs.Items[0].Record
	if s := h.do("u-admin", "PATCH", "/v1/records/"+rec.Module+"/"+rec.ID, map[string]any{"ownerId": "u-lee"}, &e); s != http.StatusBadRequest || !strings.Contains(e.Error.Message, "u-lee") {
		t.Errorf("a record given to a disabled user: %d %q, want 400", s, e.Error.Message)
	}

	// Removed: gone from the list; a later sign-in does not bring her back.
	if s := h.do("u-admin", "DELETE", "/v1/users/u-nia", nil, nil); s != http.StatusNoContent {
		t.Fatal(s)
	}
	niaTok, _ := h.Issuer.Issue(auth.Principal{UserID: "u-nia", Org: "acme"}, time.Hour)
	h.Tokens["u-nia"] = niaTok
	h.do("u-nia", "GET", "/v1/conversations", nil, nil)
	var list struct {
		Items []struct {
			UserID string `json:"userId"`
		} `json:"items"`
	}
	h.do("u-admin", "GET", "/v1/users", nil, &list)
	for _, u := range list.Items {
		if u.UserID == "u-nia" {
			t.Error("a removed user is listed after signing in again")
		}
	}
	if s := h.do("u-admin", "GET", "/v1/users/u-nia", nil, nil); s != http.StatusNotFound {
		t.Errorf("removed user: %d, want 404", s)
	}
	// Added again, she is back.
	if s := h.do("u-admin", "POST", "/v1/users", map[string]any{"userId": "u-nia"}, &nia); s != http.StatusCreated || nia.Disabled {
		t.Errorf("added again: %d %+v", s, nia)
	}
}
