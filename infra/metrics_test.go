package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/metric"
)

// Every function's JSON lines that carry metric=<name> become points of
// Events{metric=<name>} in the stack's namespace, and the alarms on
// counted events watch exactly that metric.
func TestLoggedEventsBecomeMetricsWithAlarms(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		filters := s.ofType("AWS::Logs::MetricFilter")
		if len(filters) != len(Functions) {
			t.Errorf("%s: %d metric filters, want one per function (%d)", s.name, len(filters), len(Functions))
		}
		for _, name := range Functions {
			construct := title(name) + "Function"
			f := props(s.one(t, "AWS::Logs::MetricFilter", title(name)+"LoggedEvents"))
			if got, want := render(f["LogGroupName"]), "<"+construct+"Logs>"; got != want {
				t.Errorf("%s %s: filter on %s, want %s", s.name, name, got, want)
			}
			if got := f["FilterPattern"]; got != `{ $.metric = "*" }` && got != `{ $.metric = * }` {
				t.Errorf("%s %s: filter pattern %v, want every line with a metric field", s.name, name, got)
			}
			mt := f["MetricTransformations"].([]any)[0].(map[string]any)
			want := map[string]any{
				"MetricNamespace": "wacrm/" + s.name, "MetricName": "Events", "MetricValue": "1", "Unit": "Count",
				"Dimensions": []any{map[string]any{"Key": "metric", "Value": "$.metric"}},
			}
			if !reflect.DeepEqual(mt, want) {
				t.Errorf("%s %s: transformation %v, want %v", s.name, name, mt, want)
			}
		}
		alarms := s.ofType("AWS::CloudWatch::Alarm")
		for _, a := range loggedEventAlarms {
			ap := props(alarms[a.id])
			if ap == nil {
				t.Errorf("%s: no alarm %s", s.name, a.id)
				continue
			}
			dims := []any{map[string]any{"Name": "metric", "Value": string(a.name)}}
			if ap["Namespace"] != "wacrm/"+s.name || ap["MetricName"] != "Events" || !reflect.DeepEqual(ap["Dimensions"], dims) ||
				ap["Statistic"] != "Sum" || num(ap["Threshold"]) != a.threshold {
				t.Errorf("%s %s: alarm %v", s.name, a.id, ap)
			}
		}
	}
	// The alarms the issue asks for are there.
	var watched []metric.Name
	for _, a := range loggedEventAlarms {
		watched = append(watched, a.name)
	}
	for _, n := range []metric.Name{metric.WebhookSignatureRefused, metric.SendInDoubt, metric.DroppedUnknownNumber, metric.MediaRefused} {
		if !slices.Contains(watched, n) {
			t.Errorf("no alarm on %s", n)
		}
	}
	body := render(props(d.one(t, "AWS::CloudWatch::Dashboard", "Dashboard"))["DashboardBody"])
	if !strings.Contains(body, `SEARCH('{wacrm/Wacrm,metric} MetricName=\"Events\"'`) {
		t.Errorf("the dashboard does not graph the counted events: %s", body)
	}
}

// Every function logs in Lambda's JSON format at the configured level;
// the platform's routine lines are dropped.
func TestFunctionsLogJSONAtTheirLevel(t *testing.T) {
	d, p := stacks(t)
	for _, tt := range []struct {
		s     *synthesized
		level string
	}{{d, "INFO"}, {p, "WARN"}} {
		for _, name := range Functions {
			fp := props(tt.s.one(t, "AWS::Lambda::Function", title(name)+"Function"))
			lc, _ := fp["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" || lc["ApplicationLogLevel"] != tt.level || lc["SystemLogLevel"] != "WARN" {
				t.Errorf("%s %s: logging %v, want JSON, application %s, system WARN", tt.s.name, name, lc, tt.level)
			}
		}
	}
}

// The webhook routes are throttled at the gateway and the webhook
// function alone has reserved concurrency: a flood on the public route
// cannot take the concurrency of the API and the consumers.
func TestWebhookFloodLimits(t *testing.T) {
	d, _ := stacks(t)
	stage := d.one(t, "AWS::ApiGatewayV2::Stage", "HttpApiDefaultStage")
	limits := map[string]any{"ThrottlingRateLimit": float64(webhookRateLimit), "ThrottlingBurstLimit": float64(webhookBurstLimit)}
	want := map[string]any{"GET /webhook": limits, "POST /webhook": limits}
	if got := props(stage)["RouteSettings"]; !reflect.DeepEqual(got, want) {
		t.Errorf("route settings %v, want %v", got, want)
	}
	deps := strs(stage["DependsOn"])
	routes := 0
	for id := range d.ofType("AWS::ApiGatewayV2::Route") {
		if strings.Contains(id, "webhook") && !strings.Contains(id, "stripe") { // Meta's; Stripe's is its own route
			routes++
			found := false
			for _, dep := range deps {
				found = found || trimHash(dep) == id
			}
			if !found {
				t.Errorf("stage does not wait for route %s (%v)", id, deps)
			}
		}
	}
	if routes != 2 {
		t.Errorf("%d webhook routes, want 2", routes)
	}
	for _, name := range Functions {
		got := props(d.one(t, "AWS::Lambda::Function", title(name)+"Function"))["ReservedConcurrentExecutions"]
		if name == FnWebhook && num(got) != defaultWebhookConcurrency {
			t.Errorf("webhook reserved concurrency %v, want %d", got, defaultWebhookConcurrency)
		}
		if name != FnWebhook && got != nil {
			t.Errorf("%s reserves concurrency %v: only the webhook should", name, got)
		}
	}
}

func TestLogLevelAndConcurrencyFromContext(t *testing.T) {
	for _, tt := range []struct {
		ctx         map[string]any
		level       string
		concurrency int
		err         string
	}{
		{ctx: map[string]any{}, level: "INFO", concurrency: defaultWebhookConcurrency},
		{ctx: map[string]any{"prod": "true"}, level: "WARN", concurrency: defaultWebhookConcurrency},
		{ctx: map[string]any{"prod": "true", "logLevel": "debug"}, level: "DEBUG", concurrency: defaultWebhookConcurrency},
		{ctx: map[string]any{"webhookConcurrency": "20"}, level: "INFO", concurrency: 20},
		{ctx: map[string]any{"webhookConcurrency": "-1"}, level: "INFO", concurrency: -1},
		{ctx: map[string]any{"webhookConcurrency": "0"}, err: "webhookConcurrency"},
		{ctx: map[string]any{"webhookConcurrency": "many"}, err: "webhookConcurrency"},
		{ctx: map[string]any{"logLevel": "LOUD"}, err: "logLevel"},
	} {
		_, p, err := propsFromContext(func(k string) any { return tt.ctx[k] })
		if err == nil {
			if verr := p.validate(); verr != nil && strings.Contains(verr.Error(), "logLevel") {
				err = verr
			}
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want one about %s", tt.ctx, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.ctx, err)
			continue
		}
		q := p.withDefaults()
		if q.LogLevel != tt.level || q.WebhookConcurrency != tt.concurrency {
			t.Errorf("%v: level %s concurrency %d, want %s %d", tt.ctx, q.LogLevel, q.WebhookConcurrency, tt.level, tt.concurrency)
		}
	}
}

// scripts/dlq finds each dead-letter queue and its queue in the outputs.
func TestQueueURLOutputs(t *testing.T) {
	d, _ := stacks(t)
	outputs := d.json["Outputs"].(map[string]any)
	for _, name := range []string{"Inbound", "Outbound", "Media"} {
		for id, want := range map[string]string{name + "QueueUrl": "<" + name + "Queue>", name + "DLQUrl": "<" + name + "DLQ>"} {
			o, _ := outputs[id].(map[string]any)
			if got := render(o["Value"]); got != want {
				t.Errorf("output %s: %s, want %s", id, got, want)
			}
		}
	}
}
