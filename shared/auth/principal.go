// Package auth holds the principal (who is calling, for which org) and the
// token checks that produce it.
package auth

import "slices"

// Principal is an authenticated CRM user. Org always comes from the token.
type Principal struct {
	UserID string   `json:"userId"`
	Org    string   `json:"org"`
	Name   string   `json:"name,omitempty"`
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	// TimeZone is the user's IANA zone ("Europe/Lisbon"), from the token's
	// zoneinfo claim (OpenID Connect's standard one); empty: the org's.
	TimeZone string `json:"timeZone,omitempty"`
}

// AdminGroup is the group (or role) that grants administration.
const AdminGroup = "admin"

// IsAdmin reports whether the principal may administer the org.
func (p Principal) IsAdmin() bool {
	return slices.Contains(p.Groups, AdminGroup) || slices.Contains(p.Roles, AdminGroup)
}
