package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCVerifier checks tokens of an OpenID Connect issuer (the stack's
// Cognito user pool, or your own) against the keys it publishes: the same
// issuer, audience, expiry and org rules API Gateway's JWT authorizer
// applies to the HTTP API, for the WebSocket API's $connect, which has no
// JWT authorizer.
type OIDCVerifier struct {
	Issuer    string
	Audiences []string // the token's aud, or client_id (Cognito access tokens), must be one of these
	Claims    Claims
	HTTP      *http.Client     // for discovery and keys; http.DefaultClient when nil
	Now       func() time.Time // time.Now when nil

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

// Verify checks a raw token and returns its principal.
func (o *OIDCVerifier) Verify(ctx context.Context, raw string) (Principal, error) {
	v, err := o.load(ctx)
	if err != nil {
		return Principal{}, err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("token claims: %w", err)
	}
	clientID, _ := claims["client_id"].(string)
	if !slices.ContainsFunc(o.Audiences, func(a string) bool { return slices.Contains(tok.Audience, a) || a == clientID }) {
		return Principal{}, errors.New("verify token: not issued for this audience")
	}
	return PrincipalFromClaims(o.Claims, claims)
}

// load discovers the issuer's keys once; a failed discovery is tried again
// on the next call instead of being remembered.
func (o *OIDCVerifier) load(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	client := o.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	// The key set outlives this call's context: it refreshes on key rotation.
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover issuer %s: %w", o.Issuer, err)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), jwksURL(provider))
	o.verifier = oidc.NewVerifier(o.Issuer, keys, &oidc.Config{SkipClientIDCheck: true, Now: o.Now})
	return o.verifier, nil
}

func jwksURL(p *oidc.Provider) string {
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	_ = p.Claims(&meta) // discovery succeeded, so its document decoded
	return meta.JWKS
}
