// Package apigw runs wacrm's http.Handlers behind API Gateway HTTP APIs
// (payload 2.0) and reads the principal from the claims the gateway's JWT
// authorizer already verified.
package apigw

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/wacrm/wacrm/shared/auth"
)

// Handler adapts h to a Lambda handler for HTTP API events. The request
// context carries the gateway's request context (claims included).
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// ErrNoClaims means the request did not pass through a JWT authorizer.
var ErrNoClaims = errors.New("no JWT authorizer claims on the request")

// Authenticator trusts the claims of API Gateway's JWT authorizer, which
// has checked the token's signature, issuer, audience and expiry. It reads
// them from the request context set by Handler, never from headers a
// client could forge.
type Authenticator struct {
	Claims auth.Claims
}

// Authenticate implements httpapi.Authenticator.
func (a Authenticator) Authenticate(r *http.Request) (auth.Principal, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil || len(rc.Authorizer.JWT.Claims) == 0 {
		return auth.Principal{}, ErrNoClaims
	}
	claims := make(map[string]any, len(rc.Authorizer.JWT.Claims))
	for k, v := range rc.Authorizer.JWT.Claims {
		claims[k] = v
	}
	return auth.PrincipalFromClaims(a.Claims, claims)
}
