package httpapi

import (
	"context"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/users"
)

// UserAdmin lets admins add, change, disable and remove users. Every
// method answers apperr.Forbidden to non-admins and apperr.NotFound for
// another org's user.
type UserAdmin interface {
	Add(ctx context.Context, p auth.Principal, n users.New) (*users.User, error)
	Get(ctx context.Context, p auth.Principal, id string) (*users.User, error)
	Update(ctx context.Context, p auth.Principal, id string, patch users.Patch) (*users.User, error)
	Remove(ctx context.Context, p auth.Principal, id string) error
}

const maxUserBody = 8 << 10

func (a *API) addUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() { // before reading a body only admins may send
		return apperr.E(apperr.Forbidden, "Only admins can manage users.")
	}
	var n users.New
	if err := decodeJSON(w, r, maxUserBody, &n); err != nil {
		return err
	}
	u, err := a.UserAdmin.Add(r.Context(), p, n)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/users/"+u.ID)
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	u, err := a.UserAdmin.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage users.")
	}
	var patch users.Patch
	if err := decodeJSON(w, r, maxUserBody, &patch); err != nil {
		return err
	}
	u, err := a.UserAdmin.Update(r.Context(), p, r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.UserAdmin.Remove(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
