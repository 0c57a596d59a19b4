package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// Alarm thresholds. SQS publishes its metrics every 5 minutes, so a
// 5-minute period is the finest that means anything.
const (
	alarmPeriodMin        = 5
	inboundMaxAgeS        = 300 // customers' messages should reach the CRM within seconds
	outboundMaxAgeS       = 600 // replies may wait out Meta's rate limits, not ten minutes
	mediaMaxAgeS          = 900 // users expect the picture within minutes; two retries (360 s visibility each) fit under it
	api5xxPerPeriod       = 5
	dashboardWidgetHeight = 6
)

// addOperations adds an alarm topic, alarms on every DLQ, queue age,
// function error and throttle, and a dashboard with the same metrics.
func (s *stackParts) addOperations() {
	topic := awssns.NewTopic(s.stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("wacrm alarms (" + *s.stack.StackName() + ")"),
		EnforceSSL:  jsii.Bool(true),
	})
	if s.props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.props.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	period := awscdk.Duration_Minutes(jsii.Number(alarmPeriodMin))
	var alarms []interfacesawscloudwatch.IAlarmRef
	alarm := func(id, desc string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(s.stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		alarms = append(alarms, a)
	}
	sum := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	max := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}

	for _, pair := range []queuePair{s.inbound, s.outbound, s.media, s.schedule} {
		// For scripts/dlq: show a DLQ, redrive it to its queue.
		awscdk.NewCfnOutput(s.stack, jsii.String(pair.name+"QueueUrl"), &awscdk.CfnOutputProps{
			Value: pair.queue.QueueUrl(), Description: jsii.String("The " + strings.ToLower(pair.name) + " queue (redrive target)"),
		})
		awscdk.NewCfnOutput(s.stack, jsii.String(pair.name+"DLQUrl"), &awscdk.CfnOutputProps{
			Value: pair.dlq.QueueUrl(), Description: jsii.String("The " + strings.ToLower(pair.name) + " queue's dead-letter queue"),
		})
		alarm(pair.name+"DLQDepthAlarm",
			fmt.Sprintf("%s messages failed %d times and wait in the DLQ: read them, fix the cause, redrive them", pair.name, maxReceiveCount),
			pair.dlq.MetricApproximateNumberOfMessagesVisible(max), 1)
	}
	alarm("InboundAgeAlarm", "Inbound messages are not being processed (oldest older than 5 minutes)",
		s.inbound.queue.MetricApproximateAgeOfOldestMessage(max), inboundMaxAgeS)
	alarm("OutboundAgeAlarm", "Outbound messages are not being sent (oldest older than 10 minutes)",
		s.outbound.queue.MetricApproximateAgeOfOldestMessage(max), outboundMaxAgeS)
	alarm("MediaAgeAlarm", "Inbound media is not being copied to S3 (oldest job older than 15 minutes)",
		s.media.queue.MetricApproximateAgeOfOldestMessage(max), mediaMaxAgeS)
	s.addTriggerAlarms(alarm, sum, max)
	s.addPushAlarms(alarm, sum)
	for _, name := range Functions {
		fn := s.fns[name]
		alarm(title(name)+"ErrorsAlarm", "The "+name+" function failed (errors, timeouts or crashes)", fn.MetricErrors(sum), 1)
		alarm(title(name)+"ThrottlesAlarm", "The "+name+" function was throttled (account or queue concurrency limits)", fn.MetricThrottles(sum), 1)
	}
	alarm("Api5xxAlarm", "The HTTP API answered with 5xx", s.httpAPI.MetricServerError(sum), api5xxPerPeriod)
	s.addLoggedEvents(alarm)

	awscdk.NewCfnOutput(s.stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Value: topic.TopicArn(), Description: jsii.String("Subscribe on-call here (or deploy with -c alarmEmail=...)"),
	})
	s.addDashboard(alarms)
}

func (s *stackParts) addDashboard(alarms []interfacesawscloudwatch.IAlarmRef) {
	period := awscdk.Duration_Minutes(jsii.Number(alarmPeriodMin))
	opt := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String(stat), Label: jsii.String(label)}
	}
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8), Height: jsii.Number(dashboardWidgetHeight),
		})
	}
	perFn := func(m func(name string) awscloudwatch.IMetric) []awscloudwatch.IMetric {
		var out []awscloudwatch.IMetric
		for _, name := range Functions {
			out = append(out, m(name))
		}
		return out
	}
	api := s.httpAPI
	d := awscloudwatch.NewDashboard(s.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: s.stack.StackName(),
	})
	d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24), Height: jsii.Number(4),
	}))
	d.AddWidgets(
		graph("API requests", api.MetricCount(opt("Sum", "requests")), api.MetricClientError(opt("Sum", "4xx")), api.MetricServerError(opt("Sum", "5xx"))),
		graph("API latency", api.MetricLatency(opt("p50", "p50")), api.MetricLatency(opt("p99", "p99")), api.MetricIntegrationLatency(opt("p99", "integration p99"))),
		graph("Function duration p99", perFn(func(n string) awscloudwatch.IMetric { return s.fns[n].MetricDuration(opt("p99", n)) })...),
	)
	d.AddWidgets(
		graph("Function invocations", perFn(func(n string) awscloudwatch.IMetric { return s.fns[n].MetricInvocations(opt("Sum", n)) })...),
		graph("Function errors", perFn(func(n string) awscloudwatch.IMetric { return s.fns[n].MetricErrors(opt("Sum", n)) })...),
		graph("Function throttles", perFn(func(n string) awscloudwatch.IMetric { return s.fns[n].MetricThrottles(opt("Sum", n)) })...),
	)
	d.AddWidgets(
		graph("Queue depth",
			s.inbound.queue.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "inbound")),
			s.outbound.queue.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "outbound")),
			s.media.queue.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "media")),
			s.schedule.queue.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "schedule"))),
		graph("Age of oldest message (s)",
			s.inbound.queue.MetricApproximateAgeOfOldestMessage(opt("Maximum", "inbound")),
			s.outbound.queue.MetricApproximateAgeOfOldestMessage(opt("Maximum", "outbound")),
			s.media.queue.MetricApproximateAgeOfOldestMessage(opt("Maximum", "media")),
			s.schedule.queue.MetricApproximateAgeOfOldestMessage(opt("Maximum", "schedule"))),
		graph("Dead-letter queues",
			s.inbound.dlq.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "inbound DLQ")),
			s.outbound.dlq.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "outbound DLQ")),
			s.media.dlq.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "media DLQ")),
			s.schedule.dlq.MetricApproximateNumberOfMessagesVisible(opt("Maximum", "schedule DLQ"))),
	)
	d.AddWidgets(s.loggedEventsWidget())
	d.AddWidgets(s.pushWidgets(graph, opt)...)
	d.AddWidgets(graph("Schedules",
		s.scheduleGroup.MetricAttempts(opt("Sum", "invocations")),
		s.scheduleGroup.MetricTargetErrors(opt("Sum", "target errors")),
		s.scheduleGroup.MetricSentToDLQ(opt("Sum", "sent to DLQ")),
		s.scheduleGroup.MetricDropped(opt("Sum", "dropped"))))
}
