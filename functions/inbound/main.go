// Command inbound consumes the inbound queue: webhook bodies become stored
// messages, records and conversations, exactly once.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/lambdasqs"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvMediaQueue)
	a := app.New(clients.Adapters(env, log))
	lambda.Start(lambdasqs.Handler(a.InboundHandler()))
}
