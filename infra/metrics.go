package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/metric"
)

// The functions count events in their logs (metric=<name>, package
// shared/metric). A metric filter on every function's log group turns
// each such line into one point of the metric loggedEventsMetric, with
// the event's name as its dimension: an event added in code is graphed
// without a change here, and the alarms below watch some of them.
const loggedEventsMetric = "Events"

// loggedEventsNamespace keeps one stack's counts apart from another's in
// the same account.
func loggedEventsNamespace(stackName string) string { return "wacrm/" + stackName }

// loggedEventAlarm pages when an event is counted threshold times or more
// in one alarm period. The README's runbook has a section per alarm.
type loggedEventAlarm struct {
	id        string
	name      metric.Name
	threshold float64
	desc      string
}

var loggedEventAlarms = []loggedEventAlarm{
	{"WebhookSignatureAlarm", metric.WebhookSignatureRefused, 5,
		"Webhook POSTs fail their signature check: the app secret in the webhook secret is not Meta's (placeholder, rotated), or someone who is not Meta is posting. Meta retries for 7 days."},
	{"WebhookSecretPlaceholderAlarm", metric.WebhookSecretPlaceholder, 1,
		"The webhook answers 503: its app secret is still the placeholder the stack created. Put Meta's app secret in (README: Connect Meta); Meta retries meanwhile."},
	{"SendInDoubtAlarm", metric.SendInDoubt, 1,
		"A reply may or may not have reached the customer (WhatsApp did not answer); it was failed rather than risk a duplicate."},
	{"UnknownNumberAlarm", metric.DroppedUnknownNumber, 1,
		"Webhooks arrive for a phone number no integration claims: the messages of that number are dropped."},
	{"MediaRefusedAlarm", metric.MediaRefused, 5,
		"Inbound media could not be copied for good (too large, checksum mismatch, expired at Meta, access token refused)."},
	{"UnprocessableAlarm", metric.UnprocessableBody, 1,
		"An inbound queue message can never be processed: it was kept under malformed/ and not retried."},
	{"RechargeDeclinedAlarm", metric.BillingRechargeDeclined, 1,
		"An auto-recharge was declined by the card: the org's admins see it under Billing; it is retried twice, then turned off."},
	{"AutoRechargeOffAlarm", metric.BillingAutoRechargeOff, 1,
		"Auto-recharge turned itself off after repeated declines: the org's replies stop when its credits run out."},
	{"UnrecordedWamidAlarm", metric.UnrecordedWAMID, 1,
		"WhatsApp accepted a reply whose wamid could not be recorded: its statuses wait, and a redelivery would fail it as in doubt."},
}

// loggedEvent is the metric of one counted event, summed per period.
func (s *stackParts) loggedEvent(name metric.Name) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(loggedEventsNamespace(*s.stack.StackName())),
		MetricName:    jsii.String(loggedEventsMetric),
		DimensionsMap: &map[string]*string{metric.Key: jsii.String(string(name))},
		Statistic:     jsii.String("Sum"),
		Period:        awscdk.Duration_Minutes(jsii.Number(alarmPeriodMin)),
	})
}

// addLoggedEvents adds the metric filters and, through alarm, the alarms
// on counted events.
func (s *stackParts) addLoggedEvents(alarm func(id, desc string, m awscloudwatch.IMetric, threshold float64)) {
	for _, name := range Functions {
		awslogs.NewMetricFilter(s.stack, jsii.String(title(name)+"LoggedEvents"), &awslogs.MetricFilterProps{
			LogGroup:        s.fns[name].LogGroup(),
			FilterPattern:   awslogs.FilterPattern_Exists(jsii.String("$." + metric.Key)),
			MetricNamespace: jsii.String(loggedEventsNamespace(*s.stack.StackName())),
			MetricName:      jsii.String(loggedEventsMetric),
			MetricValue:     jsii.String("1"),
			Dimensions:      &map[string]*string{metric.Key: jsii.String("$." + metric.Key)},
			Unit:            awscloudwatch.Unit_COUNT,
		})
	}
	for _, a := range loggedEventAlarms {
		alarm(a.id, fmt.Sprintf("%s (%s >= %v in %d minutes)", a.desc, a.name, a.threshold, alarmPeriodMin),
			s.loggedEvent(a.name), a.threshold)
	}
}

// loggedEventsWidget graphs every counted event, the ones without an alarm
// too, with one search over the stack's namespace.
func (s *stackParts) loggedEventsWidget() awscloudwatch.IWidget {
	period := awscdk.Duration_Minutes(jsii.Number(alarmPeriodMin))
	search := fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', 'Sum', %d)`,
		loggedEventsNamespace(*s.stack.StackName()), metric.Key, loggedEventsMetric, alarmPeriodMin*60)
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String("Counted events (metric= in the logs)"),
		Left: &[]awscloudwatch.IMetric{awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(search), Label: jsii.String(""), Period: period,
		})},
		Width: jsii.Number(24), Height: jsii.Number(dashboardWidgetHeight),
	})
}

// Log levels. The functions write JSON lines (shared/aws/awsapp.Logger)
// and Lambda's JSON log format filters them by level before CloudWatch
// Logs, which charges per byte ingested: production keeps warnings and
// errors (every counted event among them), a dev stack keeps INFO. The
// platform's own lines (START, END, REPORT) are dropped: Lambda's metrics
// carry the same figures.
const (
	defaultLogLevel     = "INFO"
	defaultProdLogLevel = "WARN"
	systemLogLevel      = awslambda.SystemLogLevel_WARN
)

var applicationLogLevels = map[string]awslambda.ApplicationLogLevel{
	"TRACE": awslambda.ApplicationLogLevel_TRACE, "DEBUG": awslambda.ApplicationLogLevel_DEBUG,
	"INFO": awslambda.ApplicationLogLevel_INFO, "WARN": awslambda.ApplicationLogLevel_WARN,
	"ERROR": awslambda.ApplicationLogLevel_ERROR, "FATAL": awslambda.ApplicationLogLevel_FATAL,
}

func title(name string) string { return strings.ToUpper(name[:1]) + name[1:] }
