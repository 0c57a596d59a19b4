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
	log := awsapp.Logger()
	env, err := awsapp.Require(awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix)
	if err != nil {
		awsapp.Fatal(log, err)
	}
	clients, err := awsapp.NewClients(ctx)
	if err != nil {
		awsapp.Fatal(log, err)
	}
	a := app.New(clients.Adapters(env, log))
	lambda.Start(apigw.Handler(a.API(apigw.Authenticator{Claims: awsapp.Claims(env)}).Handler()))
}
