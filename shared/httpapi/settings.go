package httpapi

import (
	"context"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
)

// SettingsStore keeps an org's own settings.
type SettingsStore interface {
	OrgSettings(ctx context.Context, org string) (inbox.OrgSettings, error)
	SaveOrgSettings(ctx context.Context, org string, s inbox.OrgSettings) error
}

// orgZone is the org's time zone name, "" when it has none or it cannot be
// read (day spans then count in inbox.DefaultZone; a list is not refused
// for it).
func (a *API) orgZone(ctx context.Context, org string) string {
	if a.Settings == nil {
		return ""
	}
	s, err := a.Settings.OrgSettings(ctx, org)
	if err != nil {
		a.Log.WarnContext(ctx, "org settings", "org", org, "err", err)
		return ""
	}
	return s.TimeZone
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	s, err := a.Settings.OrgSettings(r.Context(), p.Org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

type settingsPatch struct {
	TimeZone *string `json:"timeZone"`
}

func (a *API) updateSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only an admin can change the organisation's settings.")
	}
	var patch settingsPatch
	if err := decodeJSON(w, r, 4<<10, &patch); err != nil {
		return err
	}
	s, err := a.Settings.OrgSettings(r.Context(), p.Org)
	if err != nil {
		return err
	}
	if patch.TimeZone != nil {
		s.TimeZone = *patch.TimeZone
	}
	if err := s.Validate(); err != nil {
		return err
	}
	s.UpdatedAt, s.UpdatedBy = a.now(), p.UserID
	if err := a.Settings.SaveOrgSettings(r.Context(), p.Org, s); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}
