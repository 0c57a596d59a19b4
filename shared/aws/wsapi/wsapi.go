// Package wsapi is the API Gateway WebSocket API side of live push: the
// $connect and $disconnect routes, which keep the open sockets in the
// table, and a notify.Pusher that posts events to them through the
// management API. Its embedded twin is local/wshub.
package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/notify"
)

// Client is the part of the management API the pusher uses
// (*apigatewaymanagementapi.Client).
type Client interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
}

// Connections keeps the open sockets.
type Connections interface {
	SaveWebSocket(ctx context.Context, c notify.Connection) error
	DeleteWebSocket(ctx context.Context, id string) error
	// WebSockets lists an org's sockets, of one user when user is set.
	WebSockets(ctx context.Context, org, user string) ([]notify.Connection, error)
}

// Pusher posts events to the sockets of the users they concern.
type Pusher struct {
	API   Client
	Conns Connections
	Log   *slog.Logger
}

var _ notify.Pusher = (*Pusher)(nil)

// Push implements notify.Pusher. A socket API Gateway says is gone (410) is
// forgotten; any other failure is returned so the change is retried (a
// browser may then see an event twice, which events are made to allow).
func (p *Pusher) Push(ctx context.Context, evs []notify.Event) error {
	var errs []error
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		conns, err := p.Conns.WebSockets(ctx, ev.Org, ev.UserID)
		if err != nil {
			return err
		}
		for _, c := range conns {
			_, err := p.API.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(c.ID), Data: data})
			var gone *types.GoneException
			switch {
			case errors.As(err, &gone):
				p.log().InfoContext(ctx, "websocket gone; forgotten", "connection", c.ID, "org", c.Org, "user", c.UserID)
				if err := p.Conns.DeleteWebSocket(ctx, c.ID); err != nil {
					errs = append(errs, err)
				}
			case err != nil:
				errs = append(errs, fmt.Errorf("post %s to connection %s: %w", ev.Type, c.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Pusher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// Verifier checks the token a socket is opened with, by the same issuer,
// audience and org rules as the HTTP API.
type Verifier interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
}

// Routes handles the WebSocket API's $connect, $disconnect and $default.
type Routes struct {
	Verify Verifier
	Conns  Connections
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the Lambda handler of the WebSocket API's routes.
func (rt *Routes) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := req.RequestContext.ConnectionID
	switch req.RequestContext.RouteKey {
	case "$connect":
		protocols := req.MultiValueHeaders["Sec-WebSocket-Protocol"]
		if v, ok := req.Headers["Sec-WebSocket-Protocol"]; ok && len(protocols) == 0 {
			protocols = []string{v}
		}
		query := req.QueryStringParameters["token"]
		tok := auth.WebSocketToken(query, protocols)
		if tok == "" {
			return status(http.StatusUnauthorized), nil
		}
		p, err := rt.Verify.Verify(ctx, tok)
		if err != nil {
			rt.log().InfoContext(ctx, "websocket refused", "err", err)
			return status(http.StatusUnauthorized), nil
		}
		if err := rt.Conns.SaveWebSocket(ctx, notify.Connection{ID: id, Org: p.Org, UserID: p.UserID, ConnectedAt: rt.now()}); err != nil {
			return events.APIGatewayProxyResponse{}, err
		}
		resp := status(http.StatusOK)
		if query == "" { // the token came as a subprotocol: the browser needs ours back
			resp.Headers = map[string]string{"Sec-WebSocket-Protocol": auth.WebSocketProtocol}
		}
		return resp, nil
	case "$disconnect":
		return status(http.StatusOK), rt.Conns.DeleteWebSocket(ctx, id)
	default:
		return status(http.StatusOK), nil // the browser sends nothing we need
	}
}

func status(code int) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: code}
}

func (rt *Routes) now() time.Time {
	if rt.Now != nil {
		return rt.Now().UTC()
	}
	return time.Now().UTC()
}

func (rt *Routes) log() *slog.Logger {
	if rt.Log != nil {
		return rt.Log
	}
	return slog.Default()
}
