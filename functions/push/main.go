// Command push follows the table's stream: each conversation, message and
// notification change becomes small events posted to the WebSocket
// connections of the users they concern, through the management API.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/lambdastream"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvWebSocketEndpoint)
	a := app.New(clients.Adapters(env, log))
	lambda.Start(lambdastream.Handler(a.PushConsumer(clients.Pusher(env, a.Store, log)), log))
}
