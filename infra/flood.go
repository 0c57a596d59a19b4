package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// A flood on the public webhook route (Meta replaying a backlog, or
// someone who is not Meta) must not take the concurrency the API and the
// consumers need. The gateway throttles the route (a refused POST gets a
// 429 and Meta retries it), and the webhook function has its own reserved
// concurrency: it can never use more, and the rest of the account's
// concurrency stays with the other functions.
const (
	// Meta's sends are at most 80 messages/s per number by default, each
	// followed by up to three statuses; a few numbers fit well under this.
	webhookRateLimit  = 500 // requests per second, steady
	webhookBurstLimit = 1000
	// At about 50 ms per call (verify a signature, send to SQS), 50
	// instances serve the rate limit twice over.
	defaultWebhookConcurrency = 50
)

// addFloodLimits throttles the webhook routes at the gateway and reserves
// the webhook function's concurrency (unless WebhookConcurrency is
// negative: accounts whose concurrency limit is too low to reserve any).
func (s *stackParts) addFloodLimits() {
	stage := s.stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	settings := map[string]any{}
	for _, route := range s.webhookRoutes {
		key := *route.Node().DefaultChild().(awsapigatewayv2.CfnRoute).RouteKey()
		// RouteSettings is a JSON map in CloudFormation: its values go out
		// as written, so they carry CloudFormation's own key names.
		settings[key] = map[string]any{
			"ThrottlingRateLimit":  webhookRateLimit,
			"ThrottlingBurstLimit": webhookBurstLimit,
		}
		// Route settings name routes by key; the routes must exist first.
		stage.Node().AddDependency(route)
	}
	stage.SetRouteSettings(settings)

	if n := s.props.WebhookConcurrency; n > 0 {
		fn := s.fns[FnWebhook].Node().DefaultChild().(awslambda.CfnFunction)
		fn.SetReservedConcurrentExecutions(jsii.Number(n))
	}
}
