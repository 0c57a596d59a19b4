// Command recharge is billing's consumer of the table's stream: it pays
// the auto-recharge a charge made due (once per crossing of the minimum)
// and refunds replies that failed for good. The stack's event source
// mapping selects the account and message changes (billingstream.Filters).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/lambdastream"
	"github.com/wacrm/wacrm/shared/billing/billingstream"
)

func main() {
	ctx := context.Background()
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvStripeSecret)
	adapters := clients.Adapters(env, log)
	if _, err := clients.Billing(ctx, env, &adapters); err != nil {
		awsapp.Fatal(log, err)
	}
	a := app.New(adapters)
	lambda.Start(lambdastream.Handler(billingstream.Consumer(a.Billing, a.Store, log, nil), log))
}
