// Package integration models a WhatsApp Business profile connected to an org:
// which phone number it owns, and what to do with messages from strangers.
package integration

import (
	"time"

	"github.com/wacrm/wacrm/shared/records"
)

// Integration is one WhatsApp Business phone number connected to an org.
// A phone number id belongs to at most one integration, across all orgs.
type Integration struct {
	ID            string      `json:"id"`
	Org           string      `json:"org"`
	Nickname      string      `json:"nickname"`
	PhoneNumberID string      `json:"phoneNumberId"`
	WABAID        string      `json:"wabaId"`
	DisplayPhone  string      `json:"displayPhone,omitempty"`
	TokenRef      string      `json:"-"` // where the access token is kept (secret name); never returned
	Preferences   Preferences `json:"preferences"`
	Active        bool        `json:"active"`
	CreatedBy     string      `json:"createdBy,omitempty"` // owner of last resort when the rule finds nobody
	CreatedAt     time.Time   `json:"createdAt"`
	UpdatedAt     time.Time   `json:"updatedAt"`
}

// Preferences say how unknown senders become CRM records.
type Preferences struct {
	// UnknownSenders is the module a new sender is added to: Leads or Contacts.
	UnknownSenders records.Module `json:"unknownSenders"`
	Assign         Assignment     `json:"assign"`
}

// AssignKind says whom new records are assigned to.
type AssignKind string

const (
	AssignUser  AssignKind = "user"  // always this user
	AssignUsers AssignKind = "users" // round-robin among these users
	AssignGroup AssignKind = "group" // round-robin among the group's members
	AssignRole  AssignKind = "role"  // round-robin among the role's members
)

// Assignment is the owner rule for new records.
type Assignment struct {
	Kind AssignKind `json:"kind"`
	// IDs are user ids (user, users) or the one group or role name.
	IDs []string `json:"ids"`
}
