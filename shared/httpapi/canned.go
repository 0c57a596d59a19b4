package httpapi

import (
	"context"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/records"
)

// CannedStore keeps an org's canned responses. Another org's response is
// apperr.NotFound; UpdateCannedResponse returns apperr.ModuleImmutable when
// fn changes the module.
type CannedStore interface {
	CreateCannedResponse(ctx context.Context, r *canned.Response) error
	CannedResponse(ctx context.Context, org, id string) (*canned.Response, error)
	CannedResponses(ctx context.Context, org string, f canned.Filter) ([]canned.Response, string, error)
	UpdateCannedResponse(ctx context.Context, org, id string, fn func(*canned.Response) error) (*canned.Response, error)
	DeleteCannedResponse(ctx context.Context, org, id string) error
}

// Canned responses are shared by everyone in the org: any user may read,
// create, edit and delete them, as the users who answer customers are the
// ones who write them. Nothing in them is sensitive beyond the org.

// maxCannedBody leaves room for a 4,096-character text in escaped JSON.
const maxCannedBody = 64 << 10

// cannedBody is POST /v1/canned-responses.
type cannedBody struct {
	Module string `json:"module"`
	Name   string `json:"name"`
	Text   string `json:"text"`
}

// cannedPatchBody is PATCH /v1/canned-responses/{id}; absent fields stay.
type cannedPatchBody struct {
	Module *string `json:"module"`
	Name   *string `json:"name"`
	Text   *string `json:"text"`
}

func parseModule(s string) (records.Module, error) {
	m, err := records.ParseModule(s)
	if err != nil {
		return "", apperr.Wrap(err, apperr.Invalid, "module must be %s or %s.", records.Leads, records.Contacts)
	}
	return m, nil
}

func (a *API) listCanned(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := canned.Filter{Search: q.Get("q"), Cursor: q.Get("cursor")}
	if s := q.Get("module"); s != "" {
		m, err := parseModule(s)
		if err != nil {
			return err
		}
		f.Module = m
	}
	var err error
	if f.Limit, err = limitParam(r, 50, 100); err != nil {
		return err
	}
	items, cursor, err := a.Canned.CannedResponses(r.Context(), p.Org, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(items, cursor))
	return nil
}

func (a *API) createCanned(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var body cannedBody
	if err := decodeJSON(w, r, maxCannedBody, &body); err != nil {
		return err
	}
	m, err := parseModule(body.Module)
	if err != nil {
		return err
	}
	c, err := canned.New(p.Org, p.UserID, m, body.Name, body.Text, a.now())
	if err != nil {
		return err
	}
	if err := a.Canned.CreateCannedResponse(r.Context(), c); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/canned-responses/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getCanned(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Canned.CannedResponse(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) updateCanned(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var body cannedPatchBody
	if err := decodeJSON(w, r, maxCannedBody, &body); err != nil {
		return err
	}
	patch := canned.Patch{Name: body.Name, Text: body.Text}
	if body.Module != nil {
		m, err := parseModule(*body.Module)
		if err != nil {
			return err
		}
		patch.Module = &m
	}
	id := r.PathValue("id")
	if patch.Empty() { // nothing to change: answer as GET, after the module check
		c, err := a.Canned.CannedResponse(r.Context(), p.Org, id)
		if err == nil && patch.Module != nil {
			err = c.CheckModuleUnchanged(*patch.Module)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	}
	c, err := a.Canned.UpdateCannedResponse(r.Context(), p.Org, id, func(c *canned.Response) error {
		return c.Apply(patch, p.UserID, a.now())
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) deleteCanned(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.Canned.DeleteCannedResponse(r.Context(), p.Org, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
