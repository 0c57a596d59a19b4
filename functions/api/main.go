// Command api serves the CRM frontend's HTTP API behind API Gateway's JWT
// authorizer, and Stripe's webhook (open at the gateway, signed by Stripe).
package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/apigw"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
)

// graphTimeout bounds each Graph call that proves a number is the admin's.
const graphTimeout = 10 * time.Second

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix, awsapp.EnvStripeSecret)
	adapters := clients.Adapters(env, log)
	adapters.Graph = awsapp.Graph(env, graphTimeout)
	if appID := env.Optional(awsapp.EnvMetaAppID, ""); appID != "" {
		arn := env.Optional(awsapp.EnvWebhookSecret, "")
		if arn == "" {
			awsapp.Fatal(log, errors.New("missing configuration: "+awsapp.EnvMetaAppID+" needs "+awsapp.EnvWebhookSecret+" (the app secret)"))
		}
		adapters.MetaApp = clients.MetaApp(appID, arn, log)
	}
	events, err := clients.Billing(ctx, env, &adapters)
	if err != nil {
		awsapp.Fatal(log, err)
	}
	a := app.New(adapters)
	mux := http.NewServeMux()
	mux.Handle("POST /billing/stripe/webhook", a.PaymentWebhook(events))
	mux.Handle("/", a.API(apigw.Authenticator{Claims: awsapp.Claims(env)}).Handler())
	lambda.Start(apigw.Handler(mux))
}
