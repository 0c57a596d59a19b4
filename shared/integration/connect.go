package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Connecting a number proves ownership: the access token it comes with
// must be able to read the number through Meta's Graph API, the number
// must belong to the WhatsApp Business Account (WABA) named, Meta must have
// verified it, and the app is subscribed to the account's webhooks, all
// before the number is claimed. The token comes either from Embedded
// Signup (Connect exchanges the code the frontend got from Meta's popup for
// a business token and keeps it for the account) or from the admin
// (a system user token, POST /v1/integrations with accessToken).

// Graph is what connecting a number needs of Meta's Graph API. Errors are
// *whatsapp.GraphError when Meta answered.
type Graph interface {
	ExchangeCode(ctx context.Context, appID, appSecret, code string) (string, error)
	PhoneNumbers(ctx context.Context, wabaID, accessToken string) ([]whatsapp.PhoneNumber, error)
	PhoneNumber(ctx context.Context, phoneNumberID, accessToken string) (whatsapp.PhoneNumber, error)
	SubscribeApp(ctx context.Context, wabaID, accessToken string) error
}

// MetaApp gives the Meta app's id and secret, which Embedded Signup's code
// exchange authenticates with.
type MetaApp interface {
	Credentials(ctx context.Context) (appID, appSecret string, err error)
}

// Connection is a WABA an admin of the org connected through Embedded
// Signup: the business token Meta issued for it is kept under TokenRef, and
// profiles created from its numbers use that token.
type Connection struct {
	Org       string    `json:"org"`
	WABAID    string    `json:"wabaId"`
	TokenRef  string    `json:"tokenRef"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

// Signup is what the frontend got from Embedded Signup: the code to
// exchange and the WABA the business chose (from the session info event).
type Signup struct {
	Code   string `json:"code"`
	WABAID string `json:"wabaId"`
}

// Why a number cannot be connected.
const (
	ReasonNotVerified = "not_verified" // Meta has not verified the business holds it
	ReasonConnected   = "connected"    // one of the org's active profiles has it
	ReasonDeactivated = "deactivated"  // one of the org's deactivated profiles has it: re-activate that one
	ReasonClaimed     = "claimed"      // another organisation's profile has it
)

// AvailableNumber is one number of a connected WABA, as the admin chooses.
type AvailableNumber struct {
	PhoneNumberID          string `json:"phoneNumberId"`
	WABAID                 string `json:"wabaId"`
	DisplayPhoneNumber     string `json:"displayPhoneNumber"`
	VerifiedName           string `json:"verifiedName"`
	CodeVerificationStatus string `json:"codeVerificationStatus"`
	QualityRating          string `json:"qualityRating"`
	Usable                 bool   `json:"usable"`
	Reason                 string `json:"reason,omitempty"`        // one of the Reason constants when not usable
	Detail                 string `json:"detail,omitempty"`        // the reason as a sentence
	IntegrationID          string `json:"integrationId,omitempty"` // the org's own profile that has it
}

// ConnectionTokenRef names the secret that holds the business token of an
// org's connected WABA.
func ConnectionTokenRef(org, wabaID string) string { return TokenRef(ids.Derive("waba", org, wabaID)) }

// Connect completes Embedded Signup: it exchanges the code for a business
// token, checks that the token reads the account's numbers, subscribes the
// app to the account's webhooks, keeps the token, and returns the numbers
// to choose from. Connecting the account again replaces its token.
func (s *Service) Connect(ctx context.Context, p auth.Principal, in Signup) ([]AvailableNumber, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	code := strings.TrimSpace(in.Code)
	if code == "" || len(code) > maxTokenBytes || strings.ContainsFunc(code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, apperr.E(apperr.Invalid, "code is required: the code Embedded Signup returned to the frontend.")
	}
	wabaID, err := digits("wabaId", in.WABAID)
	if err != nil {
		return nil, err
	}
	if s.App == nil || s.Graph == nil {
		return nil, apperr.E(apperr.Unavailable, "Embedded Signup is not configured on this deployment (no Meta app id); connect the number with an access token instead.")
	}
	appID, appSecret, err := s.App.Credentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("meta app credentials: %w", err)
	}
	token, err := s.Graph.ExchangeCode(ctx, appID, appSecret, code)
	if err != nil {
		return nil, refused(err, apperr.SignupFailed, "Meta refused the signup code: it was used already, has expired, or belongs to another app. Run Embedded Signup again.")
	}
	numbers, err := s.Graph.PhoneNumbers(ctx, wabaID, token)
	if err != nil {
		return nil, refused(err, apperr.AccessDenied, "The token from Embedded Signup cannot read WhatsApp Business Account %s; check the account id the signup returned.", wabaID)
	}
	if err := s.Graph.SubscribeApp(ctx, wabaID, token); err != nil {
		return nil, refused(err, apperr.AccessDenied, "Meta refused to subscribe this app to the webhooks of WhatsApp Business Account %s.", wabaID)
	}
	c := &Connection{Org: p.Org, WABAID: wabaID, TokenRef: ConnectionTokenRef(p.Org, wabaID), CreatedBy: p.UserID, CreatedAt: s.now()}
	if err := s.putToken(ctx, c.TokenRef, token); err != nil {
		return nil, err
	}
	if err := s.Store.SaveConnection(ctx, c); err != nil {
		return nil, err
	}
	return s.annotate(ctx, p.Org, wabaID, numbers)
}

// Available lists the numbers of the org's connected WABAs (or of the one
// named), each marked usable or with the reason it is not.
func (s *Service) Available(ctx context.Context, p auth.Principal, wabaID string) ([]AvailableNumber, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	var conns []*Connection
	if wabaID != "" {
		id, err := digits("wabaId", wabaID)
		if err != nil {
			return nil, err
		}
		c, err := s.Store.Connection(ctx, p.Org, id)
		if err != nil {
			return nil, err
		}
		conns = []*Connection{c}
	} else {
		var err error
		if conns, err = s.Store.Connections(ctx, p.Org); err != nil {
			return nil, err
		}
	}
	if len(conns) > 0 && s.Graph == nil {
		return nil, apperr.E(apperr.Unavailable, "No Graph API is configured on this deployment.")
	}
	out := []AvailableNumber{}
	for _, c := range conns {
		token, err := s.secret(ctx, c.TokenRef)
		if err != nil {
			return nil, err
		}
		numbers, err := s.Graph.PhoneNumbers(ctx, c.WABAID, token)
		if err != nil {
			return nil, refused(err, apperr.AccessDenied, "The access Embedded Signup gave to WhatsApp Business Account %s no longer works; connect the account again.", c.WABAID)
		}
		list, err := s.annotate(ctx, p.Org, c.WABAID, numbers)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// annotate marks each number usable, or not with the reason.
func (s *Service) annotate(ctx context.Context, org, wabaID string, numbers []whatsapp.PhoneNumber) ([]AvailableNumber, error) {
	own, err := s.Store.Integrations(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make([]AvailableNumber, 0, len(numbers))
	for _, n := range numbers {
		a := AvailableNumber{PhoneNumberID: n.ID, WABAID: wabaID, DisplayPhoneNumber: n.DisplayPhoneNumber, VerifiedName: n.VerifiedName,
			CodeVerificationStatus: n.CodeVerificationStatus, QualityRating: n.QualityRating}
		a.Reason, a.Detail, a.IntegrationID, err = s.unusable(ctx, org, own, n)
		if err != nil {
			return nil, err
		}
		a.Usable = a.Reason == ""
		out = append(out, a)
	}
	return out, nil
}

// unusable says why a number cannot be connected by org, or "" when it can.
func (s *Service) unusable(ctx context.Context, org string, own []*Integration, n whatsapp.PhoneNumber) (reason, detail, integrationID string, err error) {
	if i := slices.IndexFunc(own, func(in *Integration) bool { return in.PhoneNumberID == n.ID }); i >= 0 {
		if own[i].Active {
			return ReasonConnected, fmt.Sprintf("Already connected as your profile %q.", own[i].Nickname), own[i].ID, nil
		}
		return ReasonDeactivated, fmt.Sprintf("Your deactivated profile %q has this number; re-activate it instead.", own[i].Nickname), own[i].ID, nil
	}
	switch _, err := s.Store.IntegrationByPhoneNumber(ctx, n.ID); {
	case err == nil:
		return ReasonClaimed, "Another organisation has connected this number.", "", nil
	case !apperr.Is(err, apperr.NotFound):
		return "", "", "", err
	}
	if n.CodeVerificationStatus != whatsapp.CodeVerified {
		return ReasonNotVerified, fmt.Sprintf("Meta has not verified this number (%s); finish its verification in WhatsApp Manager.", strings.ToLower(n.CodeVerificationStatus)), "", nil
	}
	return "", "", "", nil
}

// proveOwnership checks, before anything is claimed, that token reads the
// number, that the number belongs to the WABA and is verified, and
// subscribes the app to the WABA's webhooks. It returns Meta's description
// of the number.
func (s *Service) proveOwnership(ctx context.Context, wabaID, phoneNumberID, token string) (whatsapp.PhoneNumber, error) {
	var n whatsapp.PhoneNumber
	if s.Graph == nil {
		return n, apperr.E(apperr.Unavailable, "Numbers cannot be verified: no Graph API is configured on this deployment.")
	}
	n, err := s.Graph.PhoneNumber(ctx, phoneNumberID, token)
	if err != nil {
		return n, refused(err, apperr.AccessDenied, "The access token cannot read phone number id %s, so it does not show the number is yours. Use a token of the number's WhatsApp Business Account, or Embedded Signup.", phoneNumberID)
	}
	numbers, err := s.Graph.PhoneNumbers(ctx, wabaID, token)
	if err != nil {
		return n, refused(err, apperr.AccessDenied, "The access token cannot read WhatsApp Business Account %s.", wabaID)
	}
	if !slices.ContainsFunc(numbers, func(m whatsapp.PhoneNumber) bool { return m.ID == phoneNumberID }) {
		return n, apperr.E(apperr.AccessDenied, "Phone number id %s is not a number of WhatsApp Business Account %s.", phoneNumberID, wabaID)
	}
	if n.CodeVerificationStatus != whatsapp.CodeVerified {
		return n, apperr.E(apperr.NumberUnusable, "Meta has not verified phone number id %s (%s); finish its verification in WhatsApp Manager first.", phoneNumberID, strings.ToLower(n.CodeVerificationStatus))
	}
	if err := s.Graph.SubscribeApp(ctx, wabaID, token); err != nil {
		return n, refused(err, apperr.AccessDenied, "Meta refused to subscribe this app to the webhooks of WhatsApp Business Account %s.", wabaID)
	}
	return n, nil
}

// refused turns Meta's definite refusal into an apperr with code; failures
// that may pass (throttling, 5xx, the network) stay internal errors.
func refused(err error, code apperr.Code, format string, args ...any) error {
	if ge, ok := whatsapp.AsGraphError(err); ok && !ge.Retryable() {
		return apperr.Wrap(err, code, format, args...)
	}
	return fmt.Errorf("graph api: %w", err)
}

// StaticApp is a MetaApp whose id and secret are known at start.
type StaticApp struct{ ID, Secret string }

// Credentials implements MetaApp.
func (a StaticApp) Credentials(context.Context) (string, string, error) { return a.ID, a.Secret, nil }
