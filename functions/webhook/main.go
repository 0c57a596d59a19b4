// Command webhook receives Meta's WhatsApp webhooks: it checks the signature,
// enqueues the raw body (through S3 when large) and answers at once.
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
	secret, err := clients.LoadWebhookSecret(ctx, env[awsapp.EnvWebhookSecret])
	if err != nil {
		awsapp.Fatal(log, err)
	}
	a := app.New(clients.Adapters(env, log))
	lambda.Start(apigw.Handler(a.Webhook([]byte(secret.AppSecret), secret.VerifyToken)))
}
