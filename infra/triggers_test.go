package main

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/billing/billingstream"
	"github.com/wacrm/wacrm/shared/changes"
)

func TestSchedules(t *testing.T) {
	d, p := stacks(t)
	for _, tt := range []struct {
		s      *synthesized
		group  string
		policy string
	}{{d, "wacrm-Wacrm", "Delete"}, {p, "wacrm-WacrmProd", "Retain"}} {
		r := tt.s.one(t, "AWS::Scheduler::ScheduleGroup", "ScheduleGroup")
		if got := props(r)["Name"]; got != tt.group {
			t.Errorf("%s: schedule group %v, want %s", tt.s.name, got, tt.group)
		}
		if r["DeletionPolicy"] != tt.policy {
			t.Errorf("%s: schedule group deletion policy %v, want %s", tt.s.name, r["DeletionPolicy"], tt.policy)
		}
	}
	// Only EventBridge Scheduler of this account assumes the scheduler role.
	trust := props(d.one(t, "AWS::IAM::Role", "SchedulerRole"))["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
	if len(trust) != 1 {
		t.Fatalf("scheduler role trust: %v", render(trust))
	}
	st := trust[0].(map[string]any)
	principal := st["Principal"].(map[string]any)["Service"]
	cond := render(st["Condition"])
	if principal != "scheduler.amazonaws.com" || cond != render(map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}}) {
		t.Errorf("scheduler role trust: principal %v condition %s", principal, cond)
	}
}

// TestStreamConsumer wires a function to the table's stream the way a
// consumer (push, auto-recharge) is wired, in a stack of its own, and
// checks the event source mapping: the consumer's filters as filter
// criteria, partial batch responses, bisection, bounded retries and an
// on-failure queue.
func TestStreamConsumer(t *testing.T) {
	dist := t.TempDir()
	if err := writeZips(dist); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	stack := awscdk.NewStack(app, jsii.String("StreamTest"), nil)
	s := &stackParts{stack: stack, props: (&WacrmStackProps{DistDir: dist}).withDefaults(), removal: awscdk.RemovalPolicy_DESTROY, fns: map[string]awslambda.Function{}}
	s.addTable()
	f := s.function(fnSpec{name: FnAPI, construct: "PushFunction", memoryMB: 256, timeoutS: 30, env: map[string]*string{}})
	filters := []changes.Filter{
		{PKPrefix: "MSGS#", SKPrefix: "MSG#", Events: []changes.Event{changes.Insert}},
		{PKPrefix: "CONV#", Events: []changes.Event{changes.Modify}},
	}
	s.streamConsumer(f, "Push", filters)
	tmpl := assertions.Template_FromStack(stack, nil)
	var raw map[string]any
	raw = *tmpl.ToJSON()
	syn := &synthesized{name: "StreamTest", tmpl: tmpl, json: raw}

	var m map[string]any
	for _, r := range syn.ofType("AWS::Lambda::EventSourceMapping") {
		m = props(r)
	}
	if m == nil {
		t.Fatal("no event source mapping")
	}
	checks := map[string][2]any{
		"source":      {render(m["EventSourceArn"]), "<Table.StreamArn>"},
		"function":    {render(m["FunctionName"]), "<PushFunction>"},
		"start":       {m["StartingPosition"], "TRIM_HORIZON"},
		"bisect":      {m["BisectBatchOnFunctionError"], true},
		"retries":     {num(m["MaximumRetryAttempts"]), float64(streamRetries)},
		"record age":  {num(m["MaximumRecordAgeInSeconds"]), float64(streamMaxRecordAgeS)},
		"batch":       {num(m["BatchSize"]), float64(streamBatchSize)},
		"on failure":  {render(m["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]), "<PushStreamFailures.Arn>"},
		"partial ack": {slices.Contains(strs(m["FunctionResponseTypes"]), "ReportBatchItemFailures"), true},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: got %v, want %v", what, c[0], c[1])
		}
	}
	var patterns []string
	for _, f := range m["FilterCriteria"].(map[string]any)["Filters"].([]any) {
		patterns = append(patterns, f.(map[string]any)["Pattern"].(string))
	}
	want := []string{
		`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"MSGS#"}]},"SK":{"S":[{"prefix":"MSG#"}]}}},"eventName":["INSERT"]}`,
		`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"CONV#"}]}}},"eventName":["MODIFY"]}`,
	}
	if !reflect.DeepEqual(patterns, want) {
		t.Errorf("filter patterns:\n got %v\nwant %v", patterns, want)
	}
	// The function may read the stream and send to its failure queue.
	var actions []string
	for _, pol := range syn.ofType("AWS::IAM::Policy") {
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			for _, a := range strs(st["Action"]) {
				actions = append(actions, a+" "+render(st["Resource"]))
			}
		}
	}
	for _, a := range []string{"dynamodb:GetRecords <Table.StreamArn>", "dynamodb:GetShardIterator <Table.StreamArn>", "sqs:SendMessage <PushStreamFailures.Arn>"} {
		if !slices.Contains(actions, a) {
			t.Errorf("function role lacks %s; has %v", a, actions)
		}
	}
	q := props(syn.one(t, "AWS::SQS::Queue", "PushStreamFailures"))
	if q["SqsManagedSseEnabled"] != true || num(q["MessageRetentionPeriod"]) != 14*24*3600 {
		t.Errorf("failure queue: %v", render(q))
	}
	alarms := map[string]string{}
	s.streamAlarms(func(id, _ string, metric awscloudwatch.IMetric, threshold float64) {
		m := metric.(awscloudwatch.Metric)
		alarms[id] = fmt.Sprintf("%s %v", *m.MetricName(), threshold)
	}, &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")})
	wantAlarms := map[string]string{
		"PushStreamFailuresAlarm":    "ApproximateNumberOfMessagesVisible 1",
		"PushStreamIteratorAgeAlarm": "IteratorAge 300000",
	}
	if !reflect.DeepEqual(alarms, wantAlarms) {
		t.Errorf("stream alarms: got %v, want %v", alarms, wantAlarms)
	}
}

// The recharge function reads the deployed table's stream through a
// mapping whose criteria are billingstream's filters: account changes
// (a crossing marked) and message changes (a reply failing).
func TestRechargeOnTheStream(t *testing.T) {
	d, _ := stacks(t)
	var m map[string]any
	for _, r := range d.ofType("AWS::Lambda::EventSourceMapping") {
		if render(props(r)["FunctionName"]) == "<RechargeFunction>" {
			m = props(r)
		}
	}
	if m == nil {
		t.Fatal("no event source mapping feeds the recharge function")
	}
	if got := render(m["EventSourceArn"]); got != "<Table.StreamArn>" {
		t.Errorf("source %s, want the table's stream", got)
	}
	if got := render(m["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]); got != "<RechargeStreamFailures.Arn>" {
		t.Errorf("on failure %s", got)
	}
	var patterns []string
	for _, f := range m["FilterCriteria"].(map[string]any)["Filters"].([]any) {
		patterns = append(patterns, f.(map[string]any)["Pattern"].(string))
	}
	want := []string{
		`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"BILL#"}]},"SK":{"S":[{"prefix":"ACCOUNT"}]}}},"eventName":["INSERT","MODIFY"]}`,
		`{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"MSGS#"}]},"SK":{"S":[{"prefix":"MSG#"}]}}},"eventName":["MODIFY"]}`,
	}
	if !reflect.DeepEqual(patterns, want) || !reflect.DeepEqual(patterns, changes.FilterPatterns(billingstream.Filters)) {
		t.Errorf("filter patterns:\n got %v\nwant %v", patterns, want)
	}
}
