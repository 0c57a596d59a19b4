package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/integration"
)

// IntegrationService manages the org's WhatsApp profiles. Every method
// answers apperr.Forbidden to non-admins and apperr.NotFound for another
// org's id.
type IntegrationService interface {
	List(ctx context.Context, p auth.Principal) ([]*integration.Integration, error)
	Get(ctx context.Context, p auth.Principal, id string) (*integration.Integration, error)
	Create(ctx context.Context, p auth.Principal, n integration.New) (*integration.Integration, error)
	Update(ctx context.Context, p auth.Principal, id string, patch integration.Patch) (*integration.Integration, error)
	Deactivate(ctx context.Context, p auth.Principal, id string, c integration.Confirmation) (*integration.Integration, error)
	Activate(ctx context.Context, p auth.Principal, id string) (*integration.Integration, error)
	Connect(ctx context.Context, p auth.Principal, in integration.Signup) ([]integration.AvailableNumber, error)
	Available(ctx context.Context, p auth.Principal, wabaID string) ([]integration.AvailableNumber, error)
}

// maxIntegrationBody bounds an integration request (a token is a few KB).
const maxIntegrationBody = 16 << 10

// integrationView is an integration as admins see it: never the token,
// only whether one is kept.
type integrationView struct {
	*integration.Integration
	HasAccessToken bool `json:"hasAccessToken"`
}

func integrationViewOf(in *integration.Integration) integrationView {
	return integrationView{Integration: in, HasAccessToken: in.TokenRef != ""}
}

func (a *API) listIntegrations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Integrations.List(r.Context(), p)
	if err != nil {
		return err
	}
	views := make([]integrationView, len(list))
	for i, in := range list {
		views[i] = integrationViewOf(in)
	}
	writeJSON(w, http.StatusOK, newPage(views, ""))
	return nil
}

func (a *API) getIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	in, err := a.Integrations.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, integrationViewOf(in))
	return nil
}

func (a *API) createIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() { // before reading a body only admins may send
		return apperr.E(apperr.Forbidden, "Only admins can manage WhatsApp profiles.")
	}
	var n integration.New
	if err := decodeJSON(w, r, maxIntegrationBody, &n); err != nil {
		return err
	}
	in, err := a.Integrations.Create(r.Context(), p, n)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/integrations/"+in.ID)
	writeJSON(w, http.StatusCreated, integrationViewOf(in))
	return nil
}

func (a *API) updateIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage WhatsApp profiles.")
	}
	var patch integration.Patch
	if err := decodeJSON(w, r, maxIntegrationBody, &patch); err != nil {
		return err
	}
	in, err := a.Integrations.Update(r.Context(), p, r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, integrationViewOf(in))
	return nil
}

// deactivateIntegration is DELETE: the profile is kept (its conversations
// stay) but stops; ?confirm=true or a body {"confirm": "<nickname>"}
// confirms it.
func (a *API) deactivateIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage WhatsApp profiles.")
	}
	var c integration.Confirmation
	if s := r.URL.Query().Get("confirm"); s != "" {
		ok, err := strconv.ParseBool(s)
		if err != nil {
			return apperr.E(apperr.Invalid, "confirm must be true or false.")
		}
		c.Confirmed = ok
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		var body struct {
			Confirm string `json:"confirm"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return apperr.Wrap(err, apperr.Invalid, `The body must be {"confirm": "<the profile's nickname>"}.`)
		}
		c.Nickname = body.Confirm
	}
	in, err := a.Integrations.Deactivate(r.Context(), p, r.PathValue("id"), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, integrationViewOf(in))
	return nil
}

func (a *API) activateIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	in, err := a.Integrations.Activate(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, integrationViewOf(in))
	return nil
}

// connectIntegration is POST /v1/integrations/connect: Embedded Signup's
// code in, the connected WABA's numbers out.
func (a *API) connectIntegration(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage WhatsApp profiles.")
	}
	var in integration.Signup
	if err := decodeJSON(w, r, maxIntegrationBody, &in); err != nil {
		return err
	}
	numbers, err := a.Integrations.Connect(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(numbers, ""))
	return nil
}

// availableNumbers is GET /v1/integrations/available[?wabaId=]: the numbers
// of the WABAs connected with Embedded Signup, usable or not and why.
func (a *API) availableNumbers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	numbers, err := a.Integrations.Available(r.Context(), p, r.URL.Query().Get("wabaId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(numbers, ""))
	return nil
}
