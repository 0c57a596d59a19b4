package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/storage"
)

// Live push and notifications: the WebSocket API (the ws function keeps
// connections in the table, with a TTL), the push function posting the
// table stream's events to them, and the notify function raising the
// owners' notifications and setting reminder and window schedules (their
// firings run in the schedule function).

const (
	wsMemoryMB     = 256
	wsTimeoutS     = 10 // $connect fetches the issuer's keys once per instance
	pushMemoryMB   = 256
	pushTimeoutS   = 60 // a batch of 100 changes, each a few posts to open sockets
	notifyMemoryMB = 256
	notifyTimeoutS = 60 // a batch of 100 changes, each a read, a conditional write and maybe a schedule
	// WebSocketStageName is the stage browsers connect to: wss://.../live.
	WebSocketStageName = "live"
	wsRateLimit        = 50 // new connections and messages per second, across the stage
	wsBurstLimit       = 100
	wsConnectErrors    = 10 // refused or failed $connect per alarm period worth a look
)

// wsAccessLogFormat uses WebSocket API context variables.
const wsAccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","routeKey":"$context.routeKey","eventType":"$context.eventType",` +
	`"status":"$context.status","connectionId":"$context.connectionId","error":"$context.error.message",` +
	`"integrationError":"$context.integration.error"}`

// addPush adds the WebSocket API and the ws, push and notify functions.
// It runs after addHTTPAPI, which decides the token issuer.
func (s *stackParts) addPush() {
	common := func(extra map[string]*string) map[string]*string { return extra }

	ws := s.function(fnSpec{
		name: FnWS, construct: "WsFunction", memoryMB: wsMemoryMB, timeoutS: wsTimeoutS,
		desc: "WebSocket API $connect (checks the user's JWT) and $disconnect: connections in the table",
		env: common(map[string]*string{
			EnvTable:       s.table.TableName(),
			EnvJWTIssuer:   s.jwtIssuer,
			EnvJWTAudience: s.jwtAudience,
			EnvOrgClaim:    jsii.String(s.props.OrgClaim),
			EnvGroupsClaim: jsii.String(s.props.GroupsClaim),
		}),
	})
	ws.g.tableReadWrite()

	integration := func(id string) *awsapigatewayv2.WebSocketRouteOptions {
		return &awsapigatewayv2.WebSocketRouteOptions{
			Integration: awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String(id), ws.fn, nil),
		}
	}
	s.wsAPI = awsapigatewayv2.NewWebSocketApi(s.stack, jsii.String("WebSocketApi"), &awsapigatewayv2.WebSocketApiProps{
		ApiName:                jsii.String(*s.stack.StackName() + "-live"),
		Description:            jsii.String("wacrm live events: notifications, messages, statuses, conversations"),
		ConnectRouteOptions:    integration("WebSocketConnect"),
		DisconnectRouteOptions: integration("WebSocketDisconnect"),
		DefaultRouteOptions:    integration("WebSocketDefault"),
	})
	accessLogs := awslogs.NewLogGroup(s.stack, jsii.String("WebSocketAccessLogs"), &awslogs.LogGroupProps{
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})
	s.wsStage = awsapigatewayv2.NewWebSocketStage(s.stack, jsii.String("WebSocketStage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: s.wsAPI,
		StageName:    jsii.String(WebSocketStageName),
		AutoDeploy:   jsii.Bool(true),
		Throttle:     &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(wsRateLimit), BurstLimit: jsii.Number(wsBurstLimit)},
		AccessLogSettings: &accessLogSettings{
			dest:   awsapigatewayv2.NewLogGroupLogDestination(accessLogs),
			format: awsapigateway.AccessLogFormat_Custom(jsii.String(wsAccessLogFormat)),
		},
	})

	push := s.function(fnSpec{
		name: FnPush, construct: "PushFunction", memoryMB: pushMemoryMB, timeoutS: pushTimeoutS,
		desc: "Table stream consumer: posts live events to the WebSocket connections of the users they concern",
		env: common(map[string]*string{
			EnvTable:             s.table.TableName(),
			EnvWebSocketEndpoint: s.wsStage.CallbackUrl(),
		}),
	})
	push.g.tableReadWrite() // reads connections, forgets the gone ones
	push.g.manageConnections()
	s.streamConsumer(push, "Push", storage.PushChanges)

	env := s.scheduleEnv()
	env[EnvTable] = s.table.TableName()
	notify := s.function(fnSpec{
		name: FnNotify, construct: "NotifyFunction", memoryMB: notifyMemoryMB, timeoutS: notifyTimeoutS,
		desc: "Table stream consumer: the record owner's notifications, reminder and window schedules",
		env:  common(env),
	})
	notify.g.tableReadWrite()
	notify.g.schedules()
	s.streamConsumer(notify, "Notify", storage.NotifyChanges)

	// The AsyncAPI document of the pushed events is public like the OpenAPI one.
	s.asyncAPIRoute = (*s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/asyncapi.json"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("AsyncApiIntegration"), s.fns[FnAPI], nil),
	}))[0]

	s.roleWilds = append(s.roleWilds, ws.g, push.g, notify.g)
	awscdk.NewCfnOutput(s.stack, jsii.String("WebSocketUrl"), &awscdk.CfnOutputProps{
		Value:       s.wsStage.Url(),
		Description: jsii.String("Live events for the CRM frontend: open with ?token=<ID token> or the subprotocols [\"wacrm\", token] (GET /asyncapi.json)"),
	})
}

// manageConnections lets the role post to (and close) the stage's connections.
func (g *grants) manageConnections() {
	g.s.wsStage.GrantManagementApiAccess(g.role)
	g.wilds = append(g.wilds, wildcard{
		findingRegex: `/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebSocketApi[0-9A-F]{8}>\/` +
			WebSocketStageName + `\/\*\/@connections\/\*$/`,
		reason: "Connection ids are assigned by API Gateway at $connect; the grant is limited to this stack's WebSocket stage.",
	})
}

// setIssuer records the token issuer the ws function checks.
func (s *stackParts) setIssuer(issuer *string, audiences ...*string) {
	s.jwtIssuer = issuer
	s.jwtAudience = awscdk.Fn_Join(jsii.String(","), &audiences)
}

// addPushAlarms alarms on the WebSocket API: $connect or integration
// failures (a wrong issuer setting shuts every browser out).
func (s *stackParts) addPushAlarms(alarm func(id, desc string, metric awscloudwatch.IMetric, threshold float64), sum *awscloudwatch.MetricOptions) {
	alarm("WebSocketErrorsAlarm", "The WebSocket API's function failed ($connect, $disconnect): browsers get no live events",
		s.wsAPI.Metric(jsii.String("IntegrationError"), sum), wsConnectErrors)
}

// pushWidgets is the dashboard row of live push.
func (s *stackParts) pushWidgets(graph func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget,
	opt func(stat, label string) *awscloudwatch.MetricOptions) []awscloudwatch.IWidget {
	var iterator, failures []awscloudwatch.IMetric
	for _, src := range s.streamSources {
		name := strings.ToLower(src.name)
		iterator = append(iterator, src.fn.Metric(jsii.String("IteratorAge"), opt("Maximum", name)))
		failures = append(failures, src.failures.MetricApproximateNumberOfMessagesVisible(opt("Maximum", name)))
	}
	return []awscloudwatch.IWidget{
		graph("WebSocket connects and messages",
			s.wsAPI.Metric(jsii.String("ConnectCount"), opt("Sum", "connects")),
			s.wsAPI.Metric(jsii.String("MessageCount"), opt("Sum", "messages")),
			s.wsAPI.Metric(jsii.String("ClientError"), opt("Sum", "refused (4xx)")),
			s.wsAPI.Metric(jsii.String("IntegrationError"), opt("Sum", "function errors"))),
		graph("Stream consumers behind the table (ms)", iterator...),
		graph("Stream consumers' failed batches", failures...),
	}
}
