// Command media consumes the media queue: each job is an inbound message's
// media id, downloaded from the Graph API at once (its URL lasts minutes)
// and kept in S3 under media/<org>/<conversationId>/<messageId>.
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
	clients, env, log := awsapp.Init(ctx, awsapp.EnvTable, awsapp.EnvBucket, awsapp.EnvTokenPrefix, awsapp.EnvMediaQueue)
	adapters := clients.Adapters(env, log)
	// The timeout covers the download body too: a 100 MB document must fit,
	// and one stuck download must end before the function's 60 s do.
	adapters.Graph = awsapp.Graph(env, 45*time.Second)
	a := app.New(adapters)
	lambda.Start(lambdasqs.Handler(a.MediaHandler()))
}
