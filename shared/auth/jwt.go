package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wacrm/wacrm/shared/ids"
)

// Claims names the token claims that carry the org and the groups. Cognito
// puts custom attributes under "custom:" and groups under "cognito:groups".
type Claims struct {
	Org    string // default "custom:org"
	Groups string // default "cognito:groups"
	Roles  string // default "custom:roles"
}

func (c Claims) withDefaults() Claims {
	if c.Org == "" {
		c.Org = "custom:org"
	}
	if c.Groups == "" {
		c.Groups = "cognito:groups"
	}
	if c.Roles == "" {
		c.Roles = "custom:roles"
	}
	return c
}

// ErrNoToken is returned when a request carries no bearer token.
var ErrNoToken = errors.New("no bearer token")

// PrincipalFromClaims builds a principal from verified claims. Values may be
// strings, string lists, or API Gateway's rendering of lists ("[a b]").
func PrincipalFromClaims(names Claims, claims map[string]any) (Principal, error) {
	names = names.withDefaults()
	p := Principal{
		UserID: str(claims["sub"]),
		Org:    str(claims[names.Org]),
		Name:   str(claims["name"]),
		Email:  str(claims["email"]),
		Groups: list(claims[names.Groups]),
		Roles:  list(claims[names.Roles]),
		// OpenID Connect's standard claim; Cognito's zoneinfo attribute.
		TimeZone: str(claims["zoneinfo"]),
	}
	if p.UserID == "" {
		return Principal{}, errors.New("token has no sub claim")
	}
	if p.Org == "" {
		return Principal{}, fmt.Errorf("token has no %s claim", names.Org)
	}
	// Both go into storage keys: an id outside the alphabet could read as
	// another org's key, so the token is refused rather than escaped.
	if err := ids.Check("token's org", p.Org); err != nil {
		return Principal{}, err
	}
	if err := ids.Check("token's sub", p.UserID); err != nil {
		return Principal{}, err
	}
	return p, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case string:
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[\"") {
			var out []string
			if json.Unmarshal([]byte(v), &out) == nil {
				return out
			}
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
		return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return nil
}

// BearerToken extracts the token from the Authorization header, the only
// place an HTTP route reads it: a token in the query string ends up in
// access logs, proxies and browser history. Only the WebSocket, which a
// browser cannot give headers, takes one there (through Verify).
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok && tok != "" {
		return tok, nil
	}
	return "", ErrNoToken
}

// WebSocketProtocol is the subprotocol a browser offers with its token:
// new WebSocket(url, ["wacrm", token]). The server answers "wacrm".
const WebSocketProtocol = "wacrm"

// WebSocketToken picks the token of a socket being opened: the ?token=
// query value, else the entry after "wacrm" in the Sec-WebSocket-Protocol
// header values.
func WebSocketToken(query string, protocolHeaders []string) string {
	if query != "" {
		return query
	}
	var offered []string
	for _, h := range protocolHeaders {
		for _, p := range strings.Split(h, ",") {
			offered = append(offered, strings.TrimSpace(p))
		}
	}
	for i, p := range offered {
		if p == WebSocketProtocol && i+1 < len(offered) {
			return offered[i+1]
		}
	}
	return ""
}

// TokenInProtocol reports whether a socket's token came in
// Sec-WebSocket-Protocol, so the server must answer with WebSocketProtocol.
func TokenInProtocol(r *http.Request) bool {
	return r.URL.Query().Get("token") == "" && WebSocketToken("", r.Header.Values("Sec-WebSocket-Protocol")) != ""
}

// HMACIssuer signs and verifies HS256 tokens. The local stack uses it as its
// dev identity provider; on AWS the API Gateway JWT authorizer verifies
// tokens instead (see the apigw adapter).
type HMACIssuer struct {
	Issuer   string
	Audience string
	Key      []byte
	Claims   Claims
	Now      func() time.Time
}

// Issue returns a signed token for p, valid for ttl.
func (h *HMACIssuer) Issue(p Principal, ttl time.Duration) (string, error) {
	names := h.Claims.withDefaults()
	now := h.now()
	claims := jwt.MapClaims{
		"iss": h.Issuer, "aud": h.Audience, "sub": p.UserID,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		names.Org: p.Org,
	}
	if p.Name != "" {
		claims["name"] = p.Name
	}
	if p.Email != "" {
		claims["email"] = p.Email
	}
	if len(p.Groups) > 0 {
		claims[names.Groups] = p.Groups
	}
	if len(p.Roles) > 0 {
		claims[names.Roles] = p.Roles
	}
	if p.TimeZone != "" {
		claims["zoneinfo"] = p.TimeZone
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(h.Key)
}

// Authenticate verifies the request's bearer token.
func (h *HMACIssuer) Authenticate(r *http.Request) (Principal, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	return h.Verify(raw)
}

// Verify checks a raw token and returns its principal.
func (h *HMACIssuer) Verify(raw string) (Principal, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return h.Key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(h.Issuer), jwt.WithAudience(h.Audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(h.now))
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	return PrincipalFromClaims(h.Claims, claims)
}

func (h *HMACIssuer) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
