// Package users manages an organisation's CRM users: who can be given
// records and conversations. A user appears the first time they sign in
// (their token's groups and roles), or earlier when an admin adds them, so
// rules can name them before their first sign-in. A disabled or removed
// user gets no new assignments (see integration.Assigner).
package users

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
)

// User is one of an org's users.
type User struct {
	ID    string `json:"userId"`
	Org   string `json:"org"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// Groups and Roles are what the identity provider's token carried at
	// the last sign-in (the groups and roles claims).
	Groups []string `json:"groups,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	// AssignedRoles are roles an admin gave the user in wacrm; a user is
	// in a role named by either list.
	AssignedRoles []string `json:"assignedRoles,omitempty"`
	// Disabled users keep what they own but get nothing new.
	Disabled bool `json:"disabled"`
	// Removed users are gone from lists and pickers; a later sign-in does
	// not bring them back, only an admin adding them again.
	Removed   bool       `json:"-"`
	AddedBy   string     `json:"addedBy,omitempty"` // the admin who added them; empty when they signed in first
	SeenAt    *time.Time `json:"seenAt,omitempty"`  // last sign-in; none before the first
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// InRole reports whether the user has role, from the token or an admin.
func (u *User) InRole(role string) bool {
	return slices.Contains(u.Roles, role) || slices.Contains(u.AssignedRoles, role)
}

// Assignable reports whether new records and conversations may go to the
// user: one rule for every kind of assignment.
func (u *User) Assignable() bool { return !u.Disabled && !u.Removed }

// Store keeps users. Errors: apperr.NotFound for a user the org does not
// have (removed ones included), apperr.Conflict for adding one it has.
type Store interface {
	AddUser(ctx context.Context, u *User) error
	User(ctx context.Context, org, id string) (*User, error)
	UpdateUser(ctx context.Context, org, id string, fn func(*User) error) (*User, error)
}

// Limits on what an admin may enter.
const (
	MaxNameRunes = 100
	MaxRoles     = 20
	maxRoleBytes = 64
	maxEmail     = 254
)

// Service lets admins add, change, disable and remove users.
type Service struct {
	Store Store
	Now   func() time.Time
}

// New is a user an admin adds: ID is the user's id at the identity
// provider (the token's sub; Cognito's is the user's sub attribute).
type New struct {
	ID    string   `json:"userId"`
	Name  string   `json:"name,omitempty"`
	Email string   `json:"email,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

// Patch changes a user; nil fields stay as they are. Roles replaces the
// roles an admin gave (the token's are the identity provider's).
type Patch struct {
	Name     *string   `json:"name,omitempty"`
	Email    *string   `json:"email,omitempty"`
	Roles    *[]string `json:"roles,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

func requireAdmin(p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage users.")
	}
	return nil
}

// Add adds a user before their first sign-in; adding a removed user again
// brings them back, enabled.
func (s *Service) Add(ctx context.Context, p auth.Principal, n New) (*User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	id := strings.TrimSpace(n.ID)
	if err := ids.Check("userId", id); err != nil {
		return nil, apperr.Wrap(err, apperr.Invalid, "userId must be the user's id at the identity provider (the token's sub): 1 to %d letters, digits or %s.", ids.MaxLen, ids.Punctuation)
	}
	u := &User{ID: id, Org: p.Org, AddedBy: p.UserID, CreatedAt: s.now()}
	u.UpdatedAt = u.CreatedAt
	var err error
	if u.Name, err = name(n.Name); err != nil {
		return nil, err
	}
	if u.Email, err = email(n.Email); err != nil {
		return nil, err
	}
	if u.AssignedRoles, err = roles(n.Roles); err != nil {
		return nil, err
	}
	if err := s.Store.AddUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// Get returns one of the org's users.
func (s *Service) Get(ctx context.Context, p auth.Principal, id string) (*User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.User(ctx, p.Org, id)
}

// Update changes a user's name, e-mail, roles or whether they are disabled.
func (s *Service) Update(ctx context.Context, p auth.Principal, id string, patch Patch) (*User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	var nm, em *string
	var rs []string
	if patch.Name != nil {
		v, err := name(*patch.Name)
		if err != nil {
			return nil, err
		}
		nm = &v
	}
	if patch.Email != nil {
		v, err := email(*patch.Email)
		if err != nil {
			return nil, err
		}
		em = &v
	}
	if patch.Roles != nil {
		var err error
		if rs, err = roles(*patch.Roles); err != nil {
			return nil, err
		}
	}
	if patch.Disabled != nil && *patch.Disabled && id == p.UserID {
		return nil, apperr.E(apperr.Invalid, "You cannot disable yourself; another admin can.")
	}
	return s.Store.UpdateUser(ctx, p.Org, id, func(u *User) error {
		if nm != nil {
			u.Name = *nm
		}
		if em != nil {
			u.Email = *em
		}
		if patch.Roles != nil {
			u.AssignedRoles = rs
		}
		if patch.Disabled != nil {
			u.Disabled = *patch.Disabled
		}
		u.UpdatedAt = s.now()
		return nil
	})
}

// Remove takes a user out of the org's lists: they keep what they own
// (an admin reassigns it) and get nothing new, even if they sign in again.
func (s *Service) Remove(ctx context.Context, p auth.Principal, id string) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if id == p.UserID {
		return apperr.E(apperr.Invalid, "You cannot remove yourself; another admin can.")
	}
	_, err := s.Store.UpdateUser(ctx, p.Org, id, func(u *User) error {
		u.Removed, u.Disabled, u.UpdatedAt = true, true, s.now()
		return nil
	})
	return err
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func name(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxNameRunes || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", apperr.E(apperr.Invalid, "name must be at most %d characters, without control characters.", MaxNameRunes)
	}
	return s, nil
}

func email(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	at := strings.IndexByte(s, '@')
	if len(s) > maxEmail || at < 1 || at == len(s)-1 || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", apperr.E(apperr.Invalid, "email must be an e-mail address such as ana@example.com.")
	}
	return s, nil
}

// roles cleans a role list: trimmed, distinct, sorted, each a short name.
func roles(in []string) ([]string, error) {
	var out []string
	for _, r := range in {
		r = strings.TrimSpace(r)
		if r == "" || len(r) > maxRoleBytes || strings.ContainsFunc(r, func(c rune) bool { return unicode.IsControl(c) || c == ',' }) {
			return nil, apperr.E(apperr.Invalid, "roles must be names of 1 to %d bytes, without commas or control characters.", maxRoleBytes)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) > MaxRoles {
		return nil, apperr.E(apperr.Invalid, "A user can have at most %d roles.", MaxRoles)
	}
	slices.Sort(out)
	return out, nil
}
