package inbox

import (
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

// DefaultZone is where an org's days start when neither the user nor the
// org names a zone.
var DefaultZone = time.UTC

// Zone is where a user's days start and end, for the day spans of the
// Messages tab ("today", the built-in "sent today", "3d"): the user's own
// zone (the token's zoneinfo claim), else the org's, else DefaultZone. A
// name that is not an IANA zone ("Europe/Lisbon") is passed over, so a
// bad setting widens nothing and refuses nothing.
func Zone(userZone, orgZone string) *time.Location {
	for _, name := range []string{userZone, orgZone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return DefaultZone
}

// StartOfDay is midnight of t's day in loc (the first instant of the day
// where a DST change skips midnight).
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// OrgSettings are an org's own settings.
type OrgSettings struct {
	// TimeZone is where the org's days start (an IANA name), for users
	// whose token names none; empty: DefaultZone.
	TimeZone  string    `json:"timeZone,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

// Validate checks settings before they are saved.
func (s OrgSettings) Validate() error {
	if s.TimeZone == "" {
		return nil
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
		return apperr.E(apperr.Invalid, "timeZone must be an IANA time zone such as Europe/Lisbon, not %q.", s.TimeZone)
	}
	return nil
}
