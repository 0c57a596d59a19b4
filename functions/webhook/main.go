// Command webhook receives Meta's WhatsApp webhooks: it checks the signature,
// enqueues the raw body (through S3 when large) and answers at once. It
// re-reads its secret every few minutes, so a rotation needs no redeploy.
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
	clients, env, log := awsapp.Init(ctx, awsapp.EnvInboundQueue, awsapp.EnvBucket, awsapp.EnvWebhookSecret)
	secrets, err := clients.WebhookSecrets(ctx, env[awsapp.EnvWebhookSecret], log)
	if err != nil {
		awsapp.Fatal(log, err)
	}
	a := app.New(clients.Adapters(env, log))
	lambda.Start(apigw.Handler(a.WebhookFrom(secrets)))
}
