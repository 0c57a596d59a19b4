// Command notify follows the table's stream: a new customer message raises
// or updates the record owner's notification, a moved window moves the
// conversation's window schedule, a snooze sets its reminder and a
// dismissal deletes it.
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
	clients, env, log := awsapp.Init(ctx, append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...)...)
	a := app.New(clients.Adapters(env, log))
	lambda.Start(lambdastream.Handler(a.NotifyConsumer(), log))
}
