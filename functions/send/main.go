// Command send consumes the outbound queue: each job is a stored reply,
// sent through the WhatsApp Cloud API, its wamid or failure recorded.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/lambdasqs"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix)
	env.Optional(awsapp.EnvBucket, "")
	adapters := clients.Adapters(env, log)
	adapters.Graph = awsapp.Graph(env, 30*time.Second)
	a := app.New(adapters)
	lambda.Start(lambdasqs.Handler(a.OutboundHandler()))
}
