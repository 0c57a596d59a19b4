package main

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/billing/billingstream"
	"github.com/wacrm/wacrm/shared/changes"
)

// Work that follows a write: one-time schedules (EventBridge Scheduler ->
// schedule queue -> schedule function, see shared/schedule) and consumers
// of the table's stream (see shared/changes).

const (
	scheduleTimeoutS  = 30 // a batch of firings, each a few reads and a conditional write
	scheduleMemoryMB  = 256
	scheduleBatchSize = 10
	scheduleMaxConc   = 5
	scheduleMaxAgeS   = 300 // reminders are due within the minute: five minutes late is an incident
	// EventBridge Scheduler's delivery retries to the queue, then its DLQ.
	schedulerRetries     = 185 // its maximum
	schedulerMaxEventAge = 86400

	// Stream consumers: Lambda reads each shard in order; a failing record
	// is retried (with the batch bisected) streamRetries times, then its
	// batch's description goes to the consumer's failure queue and the
	// shard moves on.
	streamBatchSize      = 100
	streamWindowS        = 1
	streamRetries        = 10
	streamMaxRecordAgeS  = 86400 // the stream's retention: never skip a record for its age alone
	streamIteratorAlarmS = 300   // a consumer five minutes behind the table

	// The recharge function: a change's handling is a few reads, a
	// conditional write and at most one call to Stripe.
	rechargeTimeoutS = 60
	rechargeMemoryMB = 256
)

// ScheduleGroupName is the stack's EventBridge Scheduler group: every
// schedule the functions set lives there.
func ScheduleGroupName(stackName string) string { return "wacrm-" + stackName }

// addSchedules adds the schedule queue (and its DLQ, which also takes what
// EventBridge cannot deliver), the schedule group and the role EventBridge
// Scheduler assumes to send firings to the queue.
func (s *stackParts) addSchedules() {
	s.schedule = s.addQueuePair("Schedule", scheduleTimeoutS)
	s.scheduleGroup = awsscheduler.NewScheduleGroup(s.stack, jsii.String("ScheduleGroup"), &awsscheduler.ScheduleGroupProps{
		ScheduleGroupName: jsii.String(ScheduleGroupName(*s.stack.StackName())),
		RemovalPolicy:     s.removal,
	})
	s.schedulerRole = awsiam.NewRole(s.stack, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"aws:SourceAccount": s.stack.Account()},
			},
		}),
		Description: jsii.String("EventBridge Scheduler: sends schedule firings to the schedule queue, failures to its DLQ"),
	})
	s.schedule.queue.GrantSendMessages(s.schedulerRole)
	s.schedule.dlq.GrantSendMessages(s.schedulerRole)
}

// scheduleEnv is the environment of a function that sets schedules.
func (s *stackParts) scheduleEnv() map[string]*string {
	return map[string]*string{
		EnvScheduleGroup:    s.scheduleGroup.ScheduleGroupName(),
		EnvScheduleQueueURL: s.schedule.queue.QueueUrl(),
		EnvScheduleQueueARN: s.schedule.queue.QueueArn(),
		EnvSchedulerRoleARN: s.schedulerRole.RoleArn(),
		EnvScheduleDLQARN:   s.schedule.dlq.QueueArn(),
	}
}

// schedules lets the role set and delete the stack's schedules (only in
// its group), pass the scheduler role to them, and send a schedule that is
// already due straight to the queue.
func (g *grants) schedules() {
	s := g.s
	group := ScheduleGroupName(*s.stack.StackName())
	g.allow([]string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"},
		s.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("scheduler"), Resource: jsii.String("schedule"), ResourceName: jsii.String(group + "/*"),
		}))
	g.wilds = append(g.wilds, wildcard{
		findingRegex: `/^Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule\/` + regexp.QuoteMeta(group) + `\/\*$/`,
		reason:       "Schedules are named at run time (one per reminder or conversation window); the grant is limited to this stack's schedule group.",
	})
	s.schedulerRole.GrantPassRole(g.role)
	s.schedule.queue.GrantSendMessages(g.role)
}

// addScheduleFunction adds the function that consumes the schedule queue.
func (s *stackParts) addScheduleFunction(common func(map[string]*string) map[string]*string) deployedFn {
	env := s.scheduleEnv()
	env[EnvTable] = s.table.TableName()
	f := s.function(fnSpec{
		name: FnSchedule, construct: "ScheduleFunction", memoryMB: scheduleMemoryMB, timeoutS: scheduleTimeoutS,
		desc: "Consumes the schedule queue: runs each one-time schedule's firing (reminders, window warning and close)",
		env:  common(env),
	})
	f.g.tableReadWrite()
	f.g.schedules()
	f.consume(s.schedule.queue, scheduleBatchSize, 0, scheduleMaxConc)
	return f
}

// addRechargeFunction adds billing's stream consumer: account changes that
// mark a crossing of the auto-recharge minimum and message changes of
// replies that failed (billingstream.Filters select them at the mapping).
func (s *stackParts) addRechargeFunction(common func(map[string]*string) map[string]*string) deployedFn {
	f := s.function(fnSpec{
		name: FnRecharge, construct: "RechargeFunction", memoryMB: rechargeMemoryMB, timeoutS: rechargeTimeoutS,
		desc: "Consumes the table's stream: pays auto-recharges (once per crossing) and refunds replies that failed for good",
		env: common(map[string]*string{
			EnvTable:           s.table.TableName(),
			EnvStripeSecretARN: s.stripeSec.SecretArn(),
		}),
	})
	f.g.tableReadWrite()
	f.g.objects([]string{"s3:GetObject"}, PrefixConfig) // the deployment's rate card
	s.stripeSec.GrantRead(f.g.role, nil)
	s.streamConsumer(f, "Recharge", billingstream.Filters)
	return f
}

// streamSource is one consumer of the table's stream, for the alarms.
type streamSource struct {
	name     string
	fn       awslambda.Function
	failures awssqs.Queue
}

// streamConsumer feeds f from the table's stream with the records the
// consumer's filters select: the same changes.Filter values the local
// stack's Runner applies, rendered as the mapping's filter criteria. The
// function runs lambdastream.Handler(consumer): it reports the first
// failing record, Lambda retries from it with the batch bisected, and after
// streamRetries the batch's description goes to the consumer's failure
// queue (where an alarm waits).
func (s *stackParts) streamConsumer(f deployedFn, name string, filters []changes.Filter) {
	failures := awssqs.NewQueue(s.stack, jsii.String(name+"StreamFailures"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionD)),
	})
	var criteria []*map[string]interface{}
	for _, p := range changes.FilterPatterns(filters) {
		criteria = append(criteria, &map[string]interface{}{"pattern": jsii.String(p)})
	}
	props := &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(streamBatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(streamWindowS)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(streamRetries),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(streamMaxRecordAgeS)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(failures),
	}
	if len(criteria) > 0 {
		props.Filters = &criteria
	}
	f.fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(s.table, props))
	f.g.wilds = append(f.g.wilds, wildcard{
		findingRegex: `/^Resource::\*$/`,
		reason:       "dynamodb:ListStreams, granted by the stream event source, has no resource-level permissions.",
	})
	s.streamSources = append(s.streamSources, streamSource{name: name, fn: f.fn, failures: failures})
}

// addTriggerAlarms alarms on the schedules and the stream consumers; the
// schedule queue's DLQ alarm and the schedule function's alarms come with
// the other queues and functions.
func (s *stackParts) addTriggerAlarms(alarm func(id, desc string, metric awscloudwatch.IMetric, threshold float64), sum, max *awscloudwatch.MetricOptions) {
	alarm("ScheduleAgeAlarm", "Schedule firings are not being handled (oldest older than 5 minutes): reminders and window closes are late",
		s.schedule.queue.MetricApproximateAgeOfOldestMessage(max), scheduleMaxAgeS)
	alarm("SchedulesDroppedAlarm", "EventBridge Scheduler dropped schedule firings (retries exhausted, none sent to the DLQ)",
		s.scheduleGroup.MetricDropped(sum), 1)
	alarm("SchedulesNotSentToDLQAlarm", "EventBridge Scheduler could not put failed firings in the schedule DLQ (check the scheduler role)",
		s.scheduleGroup.MetricFailedToBeSentToDLQ(nil, sum), 1)
	s.streamAlarms(alarm, max)
}

// streamAlarms alarms on each stream consumer: a batch it gave up on, and
// a consumer falling behind the table.
func (s *stackParts) streamAlarms(alarm func(id, desc string, metric awscloudwatch.IMetric, threshold float64), max *awscloudwatch.MetricOptions) {
	for _, src := range s.streamSources {
		alarm(src.name+"StreamFailuresAlarm",
			"The "+src.name+" stream consumer gave up on a batch of table changes: its description waits in the failure queue",
			src.failures.MetricApproximateNumberOfMessagesVisible(max), 1)
		alarm(src.name+"StreamIteratorAgeAlarm",
			"The "+src.name+" stream consumer is more than 5 minutes behind the table",
			src.fn.Metric(jsii.String("IteratorAge"), max), streamIteratorAlarmS*1000)
	}
}
