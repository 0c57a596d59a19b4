// Package records models the CRM records a conversation is filed against:
// Leads and Contacts, with the fields merge fields use and an owner.
package records

import (
	"fmt"
	"strings"
	"time"
)

// Module is a CRM module.
type Module string

const (
	Leads    Module = "Leads"
	Contacts Module = "Contacts"
)

// ParseModule accepts a module name in any case.
func ParseModule(s string) (Module, error) {
	switch strings.ToLower(s) {
	case "leads", "lead":
		return Leads, nil
	case "contacts", "contact":
		return Contacts, nil
	}
	return "", fmt.Errorf("unknown module %q: want Leads or Contacts", s)
}

// Record is a Lead or a Contact.
type Record struct {
	Org       string `json:"org"`
	Module    Module `json:"module"`
	ID        string `json:"id"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Company   string `json:"company,omitempty"`
	Title     string `json:"title,omitempty"`
	WaID      string `json:"waId,omitempty"`     // WhatsApp id (phone) of the person
	WaUserID  string `json:"waUserId,omitempty"` // business-scoped user id, for senders without a phone
	OwnerID   string `json:"ownerId"`
	// Fields holds further fields merge fields can use, by display name.
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

// FullName joins first and last name.
func (r Record) FullName() string {
	return strings.TrimSpace(r.FirstName + " " + r.LastName)
}

// NameFromProfile splits a WhatsApp profile name into first and last name.
func NameFromProfile(profile string) (first, last string) {
	profile = strings.TrimSpace(profile)
	if i := strings.LastIndex(profile, " "); i > 0 {
		return strings.TrimSpace(profile[:i]), strings.TrimSpace(profile[i+1:])
	}
	return profile, ""
}

// Identity is a key under which a person is recognised: their WhatsApp id
// or, for senders without a phone number, their business-scoped user id.
type Identity string

// WaIdentity and UserIdentity build identities; empty input gives "".
func WaIdentity(waID string) Identity {
	if waID == "" {
		return ""
	}
	return Identity("wa:" + waID)
}

func UserIdentity(userID string) Identity {
	if userID == "" {
		return ""
	}
	return Identity("bsuid:" + userID)
}
