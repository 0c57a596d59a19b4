// Command api serves the CRM frontend's HTTP API behind API Gateway's JWT
// authorizer.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/apigw"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix)
	a := app.New(clients.Adapters(env, log))
	lambda.Start(apigw.Handler(a.API(apigw.Authenticator{Claims: awsapp.Claims(env)}).Handler()))
}
