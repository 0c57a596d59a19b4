package httpapi

import (
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
)

// view returns a built-in view or one of the caller's saved views.
func (a *API) view(r *http.Request, p auth.Principal, id string) (*inbox.View, error) {
	if v, ok := inbox.Builtin(id); ok {
		return &v, nil
	}
	if err := checkID("view", id); err != nil {
		return nil, err
	}
	return a.Views.View(r.Context(), p.Org, p.UserID, id)
}

func (a *API) listViews(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	saved, err := a.Views.Views(r.Context(), p.Org, p.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(append(append([]inbox.View{}, inbox.Builtins...), saved...), ""))
	return nil
}

type createViewRequest struct {
	Name  string          `json:"name"`
	Query inbox.ViewQuery `json:"query"`
}

func (a *API) createView(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req createViewRequest
	if err := decodeJSON(w, r, 16<<10, &req); err != nil {
		return err
	}
	v := &inbox.View{ID: ids.New("view"), Name: req.Name, Query: req.Query, CreatedAt: a.now()}
	if err := v.Validate(); err != nil {
		return err
	}
	if err := a.Views.SaveView(r.Context(), p.Org, p.UserID, v); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (a *API) getView(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := a.view(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) deleteView(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	if _, ok := inbox.Builtin(id); ok {
		return apperr.E(apperr.Invalid, "Built-in views cannot be deleted.")
	}
	if err := a.Views.DeleteView(r.Context(), p.Org, p.UserID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
