// Command ws serves the WebSocket API's routes: $connect checks the user's
// token (query ?token= or the Sec-WebSocket-Protocol header) by the same
// issuer, audience and org rules as the HTTP API and keeps the connection
// in the table; $disconnect forgets it.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/wsapi"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvJWTIssuer, awsapp.EnvJWTAudience)
	a := app.New(clients.Adapters(env, log))
	routes := &wsapi.Routes{Verify: awsapp.Verifier(env), Conns: a.Store, Log: log}
	lambda.Start(routes.Handle)
}
