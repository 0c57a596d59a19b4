package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/users"
)

// Store keeps integrations. Errors: apperr.NotFound for a missing
// integration (another org's included), apperr.Conflict for a phone number
// another integration claims.
type Store interface {
	CreateIntegration(ctx context.Context, in *Integration) error
	Integration(ctx context.Context, org, id string) (*Integration, error)
	Integrations(ctx context.Context, org string) ([]*Integration, error)
	UpdateIntegration(ctx context.Context, org, id string, fn func(*Integration) error) (*Integration, error)
	// SetIntegrationActive changes Active and, with it, whether the
	// integration claims its phone number; a no-op in the state it has.
	SetIntegrationActive(ctx context.Context, org, id string, active bool) (*Integration, error)
	IntegrationByPhoneNumber(ctx context.Context, phoneNumberID string) (*Integration, error)
	// SaveConnection keeps an org's connected WABA, replacing an earlier
	// connection of the same WABA; Connection is apperr.NotFound when the
	// org has not connected it.
	SaveConnection(ctx context.Context, c *Connection) error
	Connection(ctx context.Context, org, wabaID string) (*Connection, error)
	Connections(ctx context.Context, org string) ([]*Connection, error)
}

// Limits on what an admin may enter.
const (
	MaxNicknameRunes = 60
	// MaxPerOrg bounds an org's integrations, active or not. A record has
	// one conversation per number, and its owner changes in one
	// transaction with all of them (at most 100 writes).
	MaxPerOrg         = 50
	MaxAssignees      = 50
	maxTokenBytes     = 4096
	maxGroupNameBytes = 128
)

// Service manages an org's WhatsApp profiles: admins only.
type Service struct {
	Store   Store
	Users   Directory     // who may be named in an assignment rule
	Secrets secrets.Store // the access tokens, by TokenRef
	// Graph proves that a token may use a number; without it no number
	// can be connected.
	Graph Graph
	// App is the Meta app Embedded Signup runs for; without it Connect
	// is unavailable.
	App MetaApp
	Now func() time.Time
}

// TokenRef names the secret that holds an integration's access token.
func TokenRef(integrationID string) string { return "tokens/" + integrationID }

// New is what an admin enters to connect a number. AccessToken may be left
// out for a number of a WABA the org connected with Embedded Signup: the
// connection's business token is used.
type New struct {
	Nickname      string      `json:"nickname"`
	PhoneNumberID string      `json:"phoneNumberId"`
	WABAID        string      `json:"wabaId"`
	DisplayPhone  string      `json:"displayPhone,omitempty"`
	AccessToken   string      `json:"accessToken,omitempty"`
	Preferences   Preferences `json:"preferences"`
}

// Patch changes an integration; nil fields stay as they are. The phone
// number id, the WABA id and Active may be sent back unchanged (a client
// echoing the object it read) but never changed here.
type Patch struct {
	Nickname      *string           `json:"nickname,omitempty"`
	DisplayPhone  *string           `json:"displayPhone,omitempty"`
	AccessToken   *string           `json:"accessToken,omitempty"`
	Preferences   *PreferencesPatch `json:"preferences,omitempty"`
	PhoneNumberID *string           `json:"phoneNumberId,omitempty"`
	WABAID        *string           `json:"wabaId,omitempty"`
	Active        *bool             `json:"active,omitempty"`
}

// PreferencesPatch changes preferences; nil fields stay as they are.
type PreferencesPatch struct {
	UnknownSenders *string     `json:"unknownSenders,omitempty"`
	Assign         *Assignment `json:"assign,omitempty"`
}

// Confirmation is the user's confirmation that a number should stop
// receiving and sending: either an explicit yes or the profile's nickname
// typed again (compared without regard to case and surrounding spaces).
type Confirmation struct {
	Confirmed bool
	Nickname  string
}

func requireAdmin(p auth.Principal) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only admins can manage WhatsApp profiles.")
	}
	return nil
}

// List returns the org's integrations, active or not.
func (s *Service) List(ctx context.Context, p auth.Principal) ([]*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.Integrations(ctx, p.Org)
}

// Get returns one of the org's integrations.
func (s *Service) Get(ctx context.Context, p auth.Principal, id string) (*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.Integration(ctx, p.Org, id)
}

// Create connects a number once its token proves the org may use it (see
// proveOwnership): a token that cannot read the number is an
// apperr.AccessDenied and nothing is claimed. The token is written first,
// under a fresh integration id, and the integration (with its number claim)
// after, in one transaction: a failure at either step leaves no integration
// behind, at worst a secret no integration refers to. The claim is checked
// before the token is written, so only two admins racing for one number
// can leave such a secret.
func (s *Service) Create(ctx context.Context, p auth.Principal, n New) (*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	in := &Integration{Org: p.Org, CreatedBy: p.UserID, Active: true}
	var err error
	if in.Nickname, err = nickname(n.Nickname); err != nil {
		return nil, err
	}
	if in.PhoneNumberID, err = digits("phoneNumberId", n.PhoneNumberID); err != nil {
		return nil, err
	}
	if in.WABAID, err = digits("wabaId", n.WABAID); err != nil {
		return nil, err
	}
	if in.DisplayPhone, err = displayPhone(n.DisplayPhone); err != nil {
		return nil, err
	}
	var token, sharedRef string
	if strings.TrimSpace(n.AccessToken) == "" {
		// A number of a WABA connected with Embedded Signup uses its token.
		c, err := s.Store.Connection(ctx, p.Org, in.WABAID)
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.E(apperr.Invalid, "accessToken is required: the WhatsApp access token of the number, unless its WhatsApp Business Account %s was connected with Embedded Signup (POST /v1/integrations/connect).", in.WABAID)
		}
		if err != nil {
			return nil, err
		}
		if token, err = s.secret(ctx, c.TokenRef); err != nil {
			return nil, err
		}
		sharedRef = c.TokenRef
	} else if token, err = accessToken(n.AccessToken); err != nil {
		return nil, err
	}
	if in.Preferences, err = s.preferences(ctx, p.Org, n.Preferences); err != nil {
		return nil, err
	}

	existing, err := s.Store.Integrations(ctx, p.Org)
	if err != nil {
		return nil, err
	}
	for _, e := range existing {
		// One profile per number within an org: its conversations are
		// keyed by the number and point at that profile.
		if e.PhoneNumberID == in.PhoneNumberID {
			state := "an active"
			if !e.Active {
				state = "a deactivated"
			}
			return nil, apperr.E(apperr.Conflict, "Phone number id %s is already %s profile of yours, %q; edit or re-activate it instead.", in.PhoneNumberID, state, e.Nickname)
		}
	}
	if len(existing) >= MaxPerOrg {
		return nil, apperr.E(apperr.Conflict, "An organisation can have at most %d WhatsApp profiles.", MaxPerOrg)
	}
	switch _, err := s.Store.IntegrationByPhoneNumber(ctx, in.PhoneNumberID); {
	case err == nil:
		return nil, apperr.E(apperr.Conflict, "Phone number id %s is already connected to a WhatsApp profile.", in.PhoneNumberID)
	case !apperr.Is(err, apperr.NotFound):
		return nil, err
	}

	meta, err := s.proveOwnership(ctx, in.WABAID, in.PhoneNumberID, token)
	if err != nil {
		return nil, err
	}
	if in.DisplayPhone == "" {
		in.DisplayPhone = meta.DisplayPhoneNumber
	}

	in.ID = ids.New("int")
	in.CreatedAt = s.now()
	in.UpdatedAt = in.CreatedAt
	if in.TokenRef = sharedRef; in.TokenRef == "" {
		in.TokenRef = TokenRef(in.ID)
		if err := s.putToken(ctx, in.TokenRef, token); err != nil {
			return nil, err
		}
	}
	if err := s.Store.CreateIntegration(ctx, in); err != nil {
		return nil, err
	}
	return in, nil
}

// Update changes nickname, display phone, preferences or the access token.
// A new token must read the number, as at Create (apperr.AccessDenied
// otherwise, and nothing changes). It is written under the integration's
// own name, before the integration: if the second write fails the token is
// rotated already, and sending the request again finishes the rest. A
// profile that used its Embedded Signup connection's token keeps its own
// from then on.
func (s *Service) Update(ctx context.Context, p auth.Principal, id string, patch Patch) (*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	cur, err := s.Store.Integration(ctx, p.Org, id)
	if err != nil {
		return nil, err
	}
	if patch.PhoneNumberID != nil && strings.TrimSpace(*patch.PhoneNumberID) != cur.PhoneNumberID {
		return nil, apperr.E(apperr.Invalid, "phoneNumberId cannot change; connect the other number as a new profile.")
	}
	if patch.WABAID != nil && strings.TrimSpace(*patch.WABAID) != cur.WABAID {
		return nil, apperr.E(apperr.Invalid, "wabaId cannot change; connect the number as a new profile.")
	}
	if patch.Active != nil && *patch.Active != cur.Active {
		return nil, apperr.E(apperr.Invalid, "active cannot change here: DELETE the profile to deactivate it, POST .../activate to re-activate it.")
	}
	var nick, display *string
	if patch.Nickname != nil {
		v, err := nickname(*patch.Nickname)
		if err != nil {
			return nil, err
		}
		nick = &v
	}
	if patch.DisplayPhone != nil {
		v, err := displayPhone(*patch.DisplayPhone)
		if err != nil {
			return nil, err
		}
		display = &v
	}
	prefs := cur.Preferences
	if pp := patch.Preferences; pp != nil {
		if pp.UnknownSenders != nil {
			prefs.UnknownSenders = records.Module(*pp.UnknownSenders)
		}
		if pp.Assign != nil {
			prefs.Assign = *pp.Assign
		}
		if prefs, err = s.preferences(ctx, p.Org, prefs); err != nil {
			return nil, err
		}
	}
	tokenRef := cur.TokenRef
	if patch.AccessToken != nil {
		token, err := accessToken(*patch.AccessToken)
		if err != nil {
			return nil, err
		}
		if _, err := s.proveOwnership(ctx, cur.WABAID, cur.PhoneNumberID, token); err != nil {
			return nil, err
		}
		tokenRef = TokenRef(id)
		if err := s.putToken(ctx, tokenRef, token); err != nil {
			return nil, err
		}
	}
	if nick == nil && display == nil && patch.Preferences == nil && patch.AccessToken == nil {
		return cur, nil // nothing to change
	}
	return s.Store.UpdateIntegration(ctx, p.Org, id, func(in *Integration) error {
		if nick != nil {
			in.Nickname = *nick
		}
		if display != nil {
			in.DisplayPhone = *display
		}
		if patch.Preferences != nil {
			in.Preferences = prefs
		}
		in.TokenRef = tokenRef
		return nil
	})
}

// Deactivate stops a number: its webhooks are dropped and replies refused,
// and the number is released, so it can be connected to another profile.
// It needs c, else the error is apperr.ConfirmationRequired. Deactivating
// a deactivated integration changes nothing.
func (s *Service) Deactivate(ctx context.Context, p auth.Principal, id string, c Confirmation) (*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	in, err := s.Store.Integration(ctx, p.Org, id)
	if err != nil {
		return nil, err
	}
	if !c.Confirmed && !strings.EqualFold(strings.TrimSpace(c.Nickname), in.Nickname) {
		return nil, apperr.E(apperr.ConfirmationRequired,
			"Deactivating %q stops its messages and replies. Confirm by sending its nickname as {\"confirm\": %q}, or ?confirm=true.", in.Nickname, in.Nickname)
	}
	return s.Store.SetIntegrationActive(ctx, p.Org, id, false)
}

// Activate re-activates a number: apperr.Conflict when another profile
// claimed it meanwhile. Activating an active integration changes nothing.
func (s *Service) Activate(ctx context.Context, p auth.Principal, id string) (*Integration, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.SetIntegrationActive(ctx, p.Org, id, true)
}

// CheckActive returns an apperr.Inactive error for a deactivated
// integration: nothing may be sent from its number.
func (in *Integration) CheckActive() error {
	if !in.Active {
		return apperr.E(apperr.Inactive, "The WhatsApp number %q is deactivated, so nothing can be sent from it; an admin can re-activate it.", in.Nickname)
	}
	return nil
}

// AccessToken reads an integration's access token.
func (s *Service) AccessToken(ctx context.Context, in *Integration) (string, error) {
	if in.TokenRef == "" {
		return "", fmt.Errorf("integration %s has no access token", in.ID)
	}
	tok, err := s.secret(ctx, in.TokenRef)
	if err != nil {
		return "", fmt.Errorf("access token of integration %s: %w", in.ID, err)
	}
	return tok, nil
}

func (s *Service) secret(ctx context.Context, ref string) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("no secrets store configured")
	}
	tok, err := s.Secrets.Get(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", ref, err)
	}
	return tok, nil
}

func (s *Service) putToken(ctx context.Context, ref, token string) error {
	if s.Secrets == nil {
		return errors.New("no secrets store configured")
	}
	if err := s.Secrets.Put(ctx, ref, token); err != nil {
		return fmt.Errorf("store access token: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// preferences validates and normalises p. User ids must belong to users the
// org has seen (the owner picker offers exactly those): an unknown id would
// quietly give new customers to nobody. Groups and roles are only named;
// their members are found when a record is assigned, and an empty group
// falls back to the profile's creator.
func (s *Service) preferences(ctx context.Context, org string, p Preferences) (Preferences, error) {
	if p.UnknownSenders == "" {
		p.UnknownSenders = records.Leads
	} else {
		m, err := records.ParseModule(string(p.UnknownSenders))
		if err != nil {
			return p, apperr.Wrap(err, apperr.Invalid, "preferences.unknownSenders must be Leads or Contacts.")
		}
		p.UnknownSenders = m
	}
	a := &p.Assign
	a.Kind = AssignKind(strings.ToLower(strings.TrimSpace(string(a.Kind))))
	var cleaned []string
	for _, id := range a.IDs {
		id = strings.TrimSpace(id)
		if id == "" {
			return p, apperr.E(apperr.Invalid, "preferences.assign.ids must not hold empty ids.")
		}
		if !slices.Contains(cleaned, id) {
			cleaned = append(cleaned, id)
		}
	}
	a.IDs = cleaned
	switch a.Kind {
	case AssignUser, AssignGroup, AssignRole:
		if len(a.IDs) != 1 {
			return p, apperr.E(apperr.Invalid, "preferences.assign.ids must name exactly one %s.", a.Kind)
		}
		if a.Kind != AssignUser && len(a.IDs[0]) > maxGroupNameBytes {
			return p, apperr.E(apperr.Invalid, "The %s name is longer than %d bytes.", a.Kind, maxGroupNameBytes)
		}
	case AssignUsers:
		if len(a.IDs) == 0 || len(a.IDs) > MaxAssignees {
			return p, apperr.E(apperr.Invalid, "preferences.assign.ids must name 1 to %d users.", MaxAssignees)
		}
	default:
		return p, apperr.E(apperr.Invalid, "preferences.assign.kind must be user, users, group or role.")
	}
	if a.Kind == AssignUser || a.Kind == AssignUsers {
		for _, id := range a.IDs { // user ids become owners, which go into keys
			if err := ids.Check("preferences.assign.ids", id); err != nil {
				return p, apperr.Wrap(err, apperr.Invalid, "preferences.assign.ids must hold user ids: %v.", err)
			}
		}
		all, err := s.Users.Members(ctx, org)
		if err != nil {
			return p, err
		}
		var unknown, disabled []string
		for _, id := range a.IDs {
			i := slices.IndexFunc(all, func(u users.User) bool { return u.ID == id })
			switch {
			case i < 0 || all[i].Removed:
				unknown = append(unknown, id)
			case !all[i].Assignable():
				disabled = append(disabled, id)
			}
		}
		if len(unknown) > 0 {
			return p, apperr.E(apperr.Invalid, "Unknown user ids: %s. A user can be chosen once they have signed in to the CRM or an admin has added them (POST /v1/users).", strings.Join(unknown, ", "))
		}
		if len(disabled) > 0 {
			return p, apperr.E(apperr.Invalid, "Disabled users get no new records: %s.", strings.Join(disabled, ", "))
		}
	}
	return p, nil
}

func nickname(s string) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxNicknameRunes || !utf8.ValidString(s) {
		return "", apperr.E(apperr.Invalid, "nickname must be 1 to %d characters.", MaxNicknameRunes)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "", apperr.E(apperr.Invalid, "nickname must not hold control characters.")
	}
	return s, nil
}

// digits checks a Meta id: the Graph API's ids are decimal numbers.
func digits(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 || strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", apperr.E(apperr.Invalid, "%s must be the id Meta shows for it: 1 to 32 digits.", field)
	}
	return s, nil
}

func displayPhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	ok := len(s) <= 32 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9') && !strings.ContainsRune("+ -().", r)
	})
	if !ok {
		return "", apperr.E(apperr.Invalid, "displayPhone must be a phone number such as +1 555 010 0001.")
	}
	return s, nil
}

func accessToken(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", apperr.E(apperr.Invalid, "accessToken is required: the WhatsApp access token of the number.")
	case len(s) > maxTokenBytes || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", apperr.E(apperr.Invalid, "accessToken is not a valid access token.")
	}
	return s, nil
}
