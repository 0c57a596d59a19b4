// Command schedule consumes the schedule queue: at each one-time
// schedule's time EventBridge Scheduler sends its firing there, and the
// handler registered for the firing's kind runs it (snooze reminders, a
// conversation's window warning and close). A stale firing does nothing.
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
	clients, env, log := awsapp.Init(ctx, append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...)...)
	a := app.New(clients.Adapters(env, log))
	lambda.Start(lambdasqs.Handler(a.ScheduleHandler()))
}
