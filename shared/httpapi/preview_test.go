package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/records"
)

type previewJSON struct {
	Text    string   `json:"text"`
	Missing []string `json:"missing"`
	Fields  []struct {
		Token  string `json:"token"`
		Module string `json:"module"`
		Name   string `json:"name"`
		Value  string `json:"value"`
	} `json:"fields"`
	ModuleMismatch   bool    `json:"moduleMismatch"`
	Length           int     `json:"length"`
	TooLong          bool    `json:"tooLong"`
	CannedResponseID *string `json:"cannedResponseId"`
	Record           struct {
		Module string `json:"module"`
		ID     string `json:"id"`
	} `json:"record"`
	Window struct {
		Open      bool       `json:"open"`
		ExpiresAt *time.Time `json:"expiresAt"`
	} `json:"window"`
}

// previewConversation has Ana Díaz write in, fills her Lead's company, and
// returns the conversation and record ids.
func previewConversation(t *testing.T, h *harness) (convID, recID string) {
	t.Helper()
	h.customerWrites("34600111222", "Ana Díaz", "wamid.preview.1", "Hola")
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Record struct {
				Module string `json:"module"`
				ID     string `json:"id"`
			} `json:"record"`
		} `json:"items"`
	}
	if s := h.do("u-sam", "GET", "/v1/conversations", nil, &list); s != http.StatusOK || len(list.Items) != 1 || list.Items[0].Record.Module != "Leads" {
		t.Fatalf("conversations: %d %+v", s, list)
	}
	convID, recID = list.Items[0].ID, list.Items[0].Record.ID
	_, err := h.App.Store.UpdateRecord(context.Background(), "acme", records.Leads, recID, func(r *records.Record) error {
		r.Company = "Acme 🚀"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return convID, recID
}

func TestPreview(t *testing.T) {
	h := newHarness(t, nil)
	convID, recID := previewConversation(t, h)
	path := "/v1/conversations/" + convID + "/preview"
	lead := h.createCanned("u-sam", "Leads", "Greeting", "Hi $[Leads.First Name] $[Leads.Last Name] from $[Leads.Company]! $[Leads.Email]")
	contact := h.createCanned("u-sam", "Contacts", "Dear contact", "Dear $[Contacts.First Name]")
	expires := h.Now.Add(24 * time.Hour)

	var p previewJSON
	if s := h.do("u-lee", "POST", path, map[string]string{"cannedResponseId": lead.ID}, &p); s != http.StatusOK {
		t.Fatalf("preview canned: %d", s)
	}
	if p.Text != "Hi Ana Díaz from Acme 🚀! " || !slices.Equal(p.Missing, []string{"$[Leads.Email]"}) || p.ModuleMismatch ||
		p.Length != 25 || p.TooLong || p.CannedResponseID == nil || *p.CannedResponseID != lead.ID {
		t.Errorf("preview canned = %+v", p)
	}
	if p.Record.Module != "Leads" || p.Record.ID != recID || !p.Window.Open || p.Window.ExpiresAt == nil || !p.Window.ExpiresAt.Equal(expires) {
		t.Errorf("record %+v, window %+v; want Leads %s, open until %s", p.Record, p.Window, recID, expires)
	}
	var values []string
	for _, f := range p.Fields {
		values = append(values, f.Token+"="+f.Value+"/"+f.Module+"/"+f.Name)
	}
	wantValues := []string{
		"$[Leads.First Name]=Ana/Leads/First Name", "$[Leads.Last Name]=Díaz/Leads/Last Name",
		"$[Leads.Company]=Acme 🚀/Leads/Company", "$[Leads.Email]=/Leads/Email",
	}
	if !slices.Equal(values, wantValues) {
		t.Errorf("fields %q, want %q", values, wantValues)
	}

	// A Contacts response on a Lead's conversation renders, and says so.
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"cannedResponseId": contact.ID}, &p); s != http.StatusOK ||
		p.Text != "Dear " || !p.ModuleMismatch || !slices.Equal(p.Missing, []string{"$[Contacts.First Name]"}) {
		t.Errorf("preview of a Contacts response: %d %+v", s, p)
	}

	// Typed text, with no merge fields or with some.
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"text": "¡Hola $[leads.first name]! 👋"}, &p); s != http.StatusOK ||
		p.Text != "¡Hola Ana! 👋" || p.Missing == nil || len(p.Missing) != 0 || p.ModuleMismatch || p.CannedResponseID != nil {
		t.Errorf("preview of typed text: %d %+v", s, p)
	}
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"text": "Plain"}, &p); s != http.StatusOK || p.Text != "Plain" || p.Fields == nil || len(p.Fields) != 0 {
		t.Errorf("preview of plain text: %d %+v", s, p)
	}

	// A text within WhatsApp's limit that grows past it when rendered is
	// flagged; a typed text already past it is refused.
	fits := h.createCanned("u-sam", "Leads", "Long", strings.Repeat("x", 4080)+"$[Leads.Company]") // 4,096 characters
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"cannedResponseId": fits.ID}, &p); s != http.StatusOK || p.Length != 4086 || p.TooLong {
		t.Errorf("4,086 rendered characters: %d length %d tooLong %v", s, p.Length, p.TooLong)
	}
	_, err := h.App.Store.UpdateRecord(context.Background(), "acme", records.Leads, recID, func(r *records.Record) error {
		r.Company = strings.Repeat("é", 50)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"cannedResponseId": fits.ID}, &p); s != http.StatusOK || p.Length != 4130 || !p.TooLong {
		t.Errorf("4,130 rendered characters: %d length %d tooLong %v", s, p.Length, p.TooLong)
	}
	if s := h.do("u-lee", "POST", path, map[string]string{"text": strings.Repeat("x", 4081) + "$[Leads.Company]"}, nil); s != http.StatusBadRequest {
		t.Errorf("typed text of 4,097 characters: %d, want 400", s)
	}

	// After the window closes the preview still answers, and says so.
	h.Now = h.Now.Add(25 * time.Hour)
	p = previewJSON{}
	if s := h.do("u-lee", "POST", path, map[string]string{"cannedResponseId": lead.ID}, &p); s != http.StatusOK ||
		p.Window.Open || p.Window.ExpiresAt == nil || !p.Window.ExpiresAt.Equal(expires) {
		t.Errorf("preview after the window closed: %d %+v", s, p.Window)
	}
}

func TestPreviewRefusals(t *testing.T) {
	h := newHarness(t, nil)
	convID, _ := previewConversation(t, h)
	path := "/v1/conversations/" + convID + "/preview"
	acme := h.createCanned("u-sam", "Leads", "Greeting", "Hi $[Leads.First Name]")
	eves := h.createCanned("u-eve", "Leads", "Other org's greeting", "Hi $[Leads.First Name]")

	tests := []struct {
		name   string
		user   string
		path   string
		body   any
		status int
		code   string
	}{
		{"neither text nor canned", "u-sam", path, map[string]string{}, http.StatusBadRequest, "invalid"},
		{"both text and canned", "u-sam", path, map[string]string{"text": "Hi", "cannedResponseId": acme.ID}, http.StatusBadRequest, "invalid"},
		{"blank text", "u-sam", path, map[string]string{"text": "  "}, http.StatusBadRequest, "invalid"},
		{"text over 4,096 characters", "u-sam", path, map[string]string{"text": strings.Repeat("😀", 4097)}, http.StatusBadRequest, "invalid"},
		{"unknown field", "u-sam", path, map[string]string{"text": "Hi", "to": "123"}, http.StatusBadRequest, "invalid"},
		{"unknown conversation", "u-sam", "/v1/conversations/conv_nope/preview", map[string]string{"text": "Hi"}, http.StatusNotFound, "not_found"},
		{"unknown canned response", "u-sam", path, map[string]string{"cannedResponseId": "canned_nope"}, http.StatusNotFound, "not_found"},
		{"another org's canned response", "u-sam", path, map[string]string{"cannedResponseId": eves.ID}, http.StatusNotFound, "not_found"},
		{"another org's conversation", "u-eve", path, map[string]string{"text": "Hi"}, http.StatusNotFound, "not_found"},
		{"another org's conversation with its own canned id", "u-eve", path, map[string]string{"cannedResponseId": eves.ID}, http.StatusNotFound, "not_found"},
		{"no token", "", path, map[string]string{"text": "Hi"}, http.StatusUnauthorized, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if s := h.do(tt.user, "POST", tt.path, tt.body, &e); s != tt.status || e.Error.Code != tt.code {
				t.Errorf("status %d %+v, want %d %s", s, e, tt.status, tt.code)
			}
		})
	}
}
