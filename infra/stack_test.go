package main

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/metric"
)

// One synthesis of one app holding both variants, shared by every test:
// a CDK synthesis costs seconds.
var (
	synthOnce sync.Once
	synthErr  error
	dev, prod *synthesized
)

// synthesized is one stack's template as JSON plus its synthesis messages
// (cdk-nag findings among them).
type synthesized struct {
	name     string
	protect  bool // termination protection
	tmpl     assertions.Template
	json     map[string]any
	messages []*cxapi.SynthesisMessage
}

const (
	prodIssuer = "https://auth.example.com/"
	prodGraph  = "v24.0"
	// prodMetaAppID turns on Embedded Signup in the prod stack.
	prodMetaAppID = "4242424242424242"
)

var prodAudience = []string{"crm-web", "crm-mobile"}

func TestMain(m *testing.M) {
	// CDK's default CloudFormation schema validation takes most of a
	// synthesis (18 of 23 s here); `make synth` runs it, with its findings
	// as errors (cdk.json). The jsii runtime starts node while packages
	// initialise, before TestMain, so the switch (CDK_VALIDATION=false) only
	// reaches node through a re-run of this binary. Set CDK_VALIDATION=true
	// to validate here too.
	if _, set := os.LookupEnv("CDK_VALIDATION"); !set {
		jsii.Close()
		os.Exit(rerun("CDK_VALIDATION=false"))
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// rerun runs this test binary again with the same flags and extra
// environment, and returns its exit code.
func rerun(env ...string) int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "rerun test binary:", err)
		return 1
	}
	return 0
}

func stacks(t *testing.T) (devStack, prodStack *synthesized) {
	t.Helper()
	synthOnce.Do(func() { synthErr = synthesize() })
	if synthErr != nil {
		t.Fatalf("synthesize: %v", synthErr)
	}
	return dev, prod
}

func synthesize() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	dist, err := os.MkdirTemp("", "wacrm-infra-dist")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dist)
	if err := writeZips(dist); err != nil {
		return err
	}
	outdir, err := os.MkdirTemp("", "wacrm-infra-cdkout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(outdir)

	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	devStack := NewWacrmStack(app, "Wacrm", &WacrmStackProps{DistDir: dist})
	prodStack := NewWacrmStack(app, "WacrmProd", &WacrmStackProps{
		DistDir:         dist,
		Prod:            true,
		JWTIssuer:       prodIssuer,
		JWTAudience:     prodAudience,
		GraphAPIVersion: prodGraph,
		RolesClaim:      "roles",
		MetaAppID:       prodMetaAppID,
		CORSOrigins:     []string{"https://crm.example.com"},
		AlarmEmail:      "oncall@example.com",
	})
	AddNagChecks(devStack)
	AddNagChecks(prodStack)
	assembly := app.Synth(nil)

	read := func(stack awscdk.Stack) *synthesized {
		art := assembly.GetStackArtifact(stack.ArtifactId())
		// Template_FromStack reuses the app's synthesis above.
		tmpl := assertions.Template_FromStack(stack, nil)
		return &synthesized{name: *stack.StackName(), protect: *art.TerminationProtection(), tmpl: tmpl,
			json: *tmpl.ToJSON(), messages: *art.Messages()}
	}
	dev, prod = read(devStack), read(prodStack)
	return nil
}

// writeZips writes a tiny valid zip with an executable bootstrap per function.
func writeZips(dir string) error {
	for _, name := range Functions {
		f, err := os.Create(filepath.Join(dir, name+".zip"))
		if err != nil {
			return err
		}
		zw := zip.NewWriter(f)
		h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write([]byte("#!/bin/sh\necho " + name + "\n"))
		}
		if err == nil {
			err = zw.Close()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s.zip: %w", name, err)
		}
	}
	return nil
}

// --- template helpers ---

func (s *synthesized) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

// ofType returns the resources of a type keyed by logical id without its hash.
func (s *synthesized) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources() {
		if r["Type"] == typ {
			out[trimHash(id)] = r
		}
	}
	return out
}

// one returns the resource of a type whose logical id is prefix + hash.
func (s *synthesized) one(t *testing.T, typ, prefix string) map[string]any {
	t.Helper()
	r, ok := s.ofType(typ)[prefix]
	if !ok {
		t.Fatalf("%s: no %s %s", s.name, typ, prefix)
	}
	return r
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

var hashSuffix = regexp.MustCompile(`[0-9A-F]{8}$`)

func trimHash(logicalID string) string {
	if len(logicalID) > 8 {
		return hashSuffix.ReplaceAllString(logicalID, "")
	}
	return logicalID
}

// render turns a CloudFormation value into a readable string:
// {"Fn::GetAtt":["Bucket83908E77","Arn"]} -> <Bucket.Arn>, {"Ref":"AWS::Region"} -> ${Region}.
func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if rest, ok := strings.CutPrefix(ref, "AWS::"); ok {
				return "${" + rest + "}"
			}
			return "<" + trimHash(ref) + ">"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return "<" + trimHash(ga[0].(string)) + "." + ga[1].(string) + ">"
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, render(p))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, render(e))
		}
		return out
	case nil:
		return nil
	}
	return []string{render(v)}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// must runs an assertions call, which panics (a jsii error) on mismatch.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// --- tests ---

func TestNagAwsSolutionsHasNoUnsuppressedErrors(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		t.Run(s.name, func(t *testing.T) {
			for _, m := range s.messages {
				text := fmt.Sprint(m.Entry.Data)
				switch m.Level {
				case cxapi.SynthesisMessageLevel_ERROR:
					t.Errorf("%s: %s", *m.Id, text)
				case cxapi.SynthesisMessageLevel_WARNING:
					t.Logf("warning %s: %s", *m.Id, firstLine(text))
				}
			}
		})
	}
	// Proof the pack ran: the dev user pool leaves MFA optional, which
	// AwsSolutions reports as a warning (COG2).
	if !slices.ContainsFunc(d.messages, func(m *cxapi.SynthesisMessage) bool {
		return strings.HasPrefix(fmt.Sprint(m.Entry.Data), "AwsSolutions-COG2")
	}) {
		t.Error("no AwsSolutions-COG2 warning on the dev stack: are the cdk-nag checks running?")
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func TestNagSuppressionsCarryReasons(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		count := 0
		for id, r := range s.resources() {
			meta, _ := r["Metadata"].(map[string]any)
			nag, _ := meta["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, rule := range rules {
				rule := rule.(map[string]any)
				count++
				if reason, _ := rule["reason"].(string); len(reason) < 40 {
					t.Errorf("%s %s: suppression of %v has a thin reason %q", s.name, id, rule["id"], reason)
				}
				if rule["id"] == "AwsSolutions-IAM5" && rule["applies_to"] == nil {
					t.Errorf("%s %s: IAM5 suppressed for every wildcard, want applies_to naming each", s.name, id)
				}
			}
		}
		if count == 0 {
			t.Errorf("%s: no suppressions found in template metadata", s.name)
		}
	}
}

func TestFunctions(t *testing.T) {
	d, p := stacks(t)
	tests := []struct {
		construct string
		memory    float64
		timeout   float64
		env       map[string]string // rendered values; "" = only present
	}{
		{"WebhookFunction", 256, 10, map[string]string{
			EnvBucket: "<Bucket>", EnvInboundQueueURL: "<InboundQueue>", EnvWebhookSecretARN: "<WebhookSecret>",
		}},
		{"InboundFunction", 256, 30, map[string]string{EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvMediaQueueURL: "<MediaQueue>"}},
		{"ApiFunction", 512, 15, map[string]string{
			EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvOutboundQueueURL: "<OutboundQueue>",
			EnvTokenSecretPrefix: "wacrm/Wacrm/tokens/", EnvOrgClaim: "custom:org", EnvGroupsClaim: "cognito:groups",
			EnvRolesClaim: "custom:roles", EnvGraphBaseURL: "https://graph.facebook.com/v23.0", EnvWebhookSecretARN: "<WebhookSecret>",
			EnvStripeSecretARN: "<StripeSecret>",
		}},
		{"SendFunction", 256, 30, map[string]string{
			EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvTokenSecretPrefix: "wacrm/Wacrm/tokens/",
			EnvGraphBaseURL: "https://graph.facebook.com/v23.0", EnvOutboundQueueURL: "<OutboundQueue>",
		}},
		{"MediaFunction", 1024, 60, map[string]string{
			EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvTokenSecretPrefix: "wacrm/Wacrm/tokens/",
			EnvGraphBaseURL: "https://graph.facebook.com/v23.0", EnvMediaQueueURL: "<MediaQueue>",
		}},
		{"ScheduleFunction", 256, 30, map[string]string{
			EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvScheduleGroup: "wacrm-Wacrm",
			EnvScheduleQueueURL: "<ScheduleQueue>", EnvScheduleQueueARN: "<ScheduleQueue.Arn>",
			EnvSchedulerRoleARN: "<SchedulerRole.Arn>", EnvScheduleDLQARN: "<ScheduleDLQ.Arn>",
		}},
		{"NotifyFunction", 256, 60, map[string]string{
			EnvTable: "<Table>", EnvScheduleGroup: "wacrm-Wacrm",
			EnvScheduleQueueURL: "<ScheduleQueue>", EnvScheduleQueueARN: "<ScheduleQueue.Arn>",
			EnvSchedulerRoleARN: "<SchedulerRole.Arn>", EnvScheduleDLQARN: "<ScheduleDLQ.Arn>",
		}},
		{"PushFunction", 256, 60, map[string]string{
			EnvTable: "<Table>", EnvWebSocketEndpoint: "https://<WebSocketApi>.execute-api.${Region}.${URLSuffix}/live",
		}},
		// The same issuer and audience as the HTTP API's authorizer.
		{"WsFunction", 256, 10, map[string]string{
			EnvTable: "<Table>", EnvJWTIssuer: "https://<UserPool.ProviderURL>", EnvJWTAudience: "<UserPoolWebClient>",
			EnvOrgClaim: "custom:org", EnvGroupsClaim: "cognito:groups",
		}},
		{"RechargeFunction", 256, 60, map[string]string{EnvTable: "<Table>", EnvBucket: "<Bucket>", EnvStripeSecretARN: "<StripeSecret>"}},
	}
	fns := d.ofType("AWS::Lambda::Function")
	if len(fns) != len(tests) {
		t.Errorf("functions: got %d, want %d", len(fns), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.construct, func(t *testing.T) {
			fp := props(d.one(t, "AWS::Lambda::Function", tt.construct))
			if got := fp["Runtime"]; got != "provided.al2023" {
				t.Errorf("runtime: got %v, want provided.al2023", got)
			}
			if got := strs(fp["Architectures"]); !reflect.DeepEqual(got, []string{"arm64"}) {
				t.Errorf("architectures: got %v, want [arm64]", got)
			}
			if got := fp["Handler"]; got != "bootstrap" {
				t.Errorf("handler: got %v, want bootstrap", got)
			}
			if got := num(fp["MemorySize"]); got != tt.memory {
				t.Errorf("memory: got %v, want %v", got, tt.memory)
			}
			if got := num(fp["Timeout"]); got != tt.timeout {
				t.Errorf("timeout: got %v, want %v", got, tt.timeout)
			}
			vars := fp["Environment"].(map[string]any)["Variables"].(map[string]any)
			got := map[string]string{}
			for k, v := range vars {
				got[k] = render(v)
			}
			if !reflect.DeepEqual(got, tt.env) {
				t.Errorf("environment:\n got %v\nwant %v", got, tt.env)
			}
			// Logs go to the function's own log group, which has a retention.
			lc, _ := fp["LoggingConfig"].(map[string]any)
			if got, want := render(lc["LogGroup"]), "<"+tt.construct+"Logs>"; got != want {
				t.Errorf("log group: got %s, want %s", got, want)
			}
			if days := num(props(d.one(t, "AWS::Logs::LogGroup", tt.construct+"Logs"))["RetentionInDays"]); days != 30 {
				t.Errorf("dev log retention: got %v days, want 30", days)
			}
			if days := num(props(p.one(t, "AWS::Logs::LogGroup", tt.construct+"Logs"))["RetentionInDays"]); days != 90 {
				t.Errorf("prod log retention: got %v days, want 90", days)
			}
			// Code comes from a zip asset (the dist zip as is).
			code := fp["Code"].(map[string]any)
			if key := render(code["S3Key"]); !strings.HasSuffix(key, ".zip") {
				t.Errorf("code key %q: want a zip asset", key)
			}
		})
	}

	// Context overrides reach the environment of every Graph API caller.
	for _, fn := range []string{"SendFunction", "MediaFunction", "ApiFunction"} {
		vars := props(p.one(t, "AWS::Lambda::Function", fn))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if got, want := vars[EnvGraphBaseURL], "https://graph.facebook.com/"+prodGraph; got != want {
			t.Errorf("%s: prod graph base URL: got %v, want %v", fn, got, want)
		}
		if got, want := vars[EnvTokenSecretPrefix], "wacrm/WacrmProd/tokens/"; got != want {
			t.Errorf("%s: prod token prefix: got %v, want %v", fn, got, want)
		}
	}
	// The Meta app id and the roles claim reach the api.
	vars := props(p.one(t, "AWS::Lambda::Function", "ApiFunction"))["Environment"].(map[string]any)["Variables"].(map[string]any)
	if vars[EnvMetaAppID] != prodMetaAppID || vars[EnvRolesClaim] != "roles" {
		t.Errorf("prod api: meta app id %v, roles claim %v; want %s, roles", vars[EnvMetaAppID], vars[EnvRolesClaim], prodMetaAppID)
	}
}

func TestQueuesAndEventSources(t *testing.T) {
	d, _ := stacks(t)
	tests := []struct {
		queue, consumer string
		batch           float64
		window          float64 // seconds; 0 = none
		maxConcurrency  float64
		visibility      float64 // seconds: 6 x the consumer's timeout
	}{
		{"InboundQueue", "InboundFunction", 10, 1, 10, 180},
		{"OutboundQueue", "SendFunction", 10, 0, 5, 180},
		{"MediaQueue", "MediaFunction", 5, 0, 5, 360},
		{"ScheduleQueue", "ScheduleFunction", 10, 0, 5, 180},
	}
	mappings := d.ofType("AWS::Lambda::EventSourceMapping")
	if want := len(tests) + 3; len(mappings) != want { // and the notify and push stream consumers (push_test.go), and recharge (TestRechargeOnTheStream)
		t.Errorf("event source mappings: got %d, want %d", len(mappings), want)
	}
	for _, tt := range tests {
		t.Run(tt.queue, func(t *testing.T) {
			q := props(d.one(t, "AWS::SQS::Queue", tt.queue))
			dlqName := strings.TrimSuffix(tt.queue, "Queue") + "DLQ"
			dlq := props(d.one(t, "AWS::SQS::Queue", dlqName))
			consumerTimeout := num(props(d.one(t, "AWS::Lambda::Function", tt.consumer))["Timeout"])
			if got := num(q["VisibilityTimeout"]); got < 6*consumerTimeout || got != tt.visibility {
				t.Errorf("visibility timeout: got %v s, want %v s (at least 6 x consumer timeout %v s)", got, tt.visibility, consumerTimeout)
			}
			rp, _ := q["RedrivePolicy"].(map[string]any)
			if got := num(rp["maxReceiveCount"]); got != 5 {
				t.Errorf("maxReceiveCount: got %v, want 5", got)
			}
			if got, want := render(rp["deadLetterTargetArn"]), "<"+dlqName+".Arn>"; got != want {
				t.Errorf("DLQ: got %s, want %s", got, want)
			}
			if got := num(dlq["MessageRetentionPeriod"]); got != 14*24*3600 {
				t.Errorf("DLQ retention: got %v s, want 14 days", got)
			}
			for name, qp := range map[string]map[string]any{tt.queue: q, dlqName: dlq} {
				if qp["SqsManagedSseEnabled"] != true {
					t.Errorf("%s: SQS-managed SSE off", name)
				}
			}

			var m map[string]any
			for _, r := range mappings {
				if render(props(r)["EventSourceArn"]) == "<"+tt.queue+".Arn>" {
					m = props(r)
				}
			}
			if m == nil {
				t.Fatalf("no event source mapping on %s", tt.queue)
			}
			if got, want := render(m["FunctionName"]), "<"+tt.consumer+">"; got != want {
				t.Errorf("consumer: got %s, want %s", got, want)
			}
			if got := strs(m["FunctionResponseTypes"]); !slices.Contains(got, "ReportBatchItemFailures") {
				t.Errorf("function response types %v: want ReportBatchItemFailures", got)
			}
			if got := num(m["BatchSize"]); got != tt.batch {
				t.Errorf("batch size: got %v, want %v", got, tt.batch)
			}
			if got := num(m["MaximumBatchingWindowInSeconds"]); got != tt.window {
				t.Errorf("batching window: got %v, want %v", got, tt.window)
			}
			sc, _ := m["ScalingConfig"].(map[string]any)
			if got := num(sc["MaximumConcurrency"]); got != tt.maxConcurrency {
				t.Errorf("max concurrency: got %v, want %v", got, tt.maxConcurrency)
			}
		})
	}
	// Every queue refuses plain HTTP.
	queues := d.ofType("AWS::SQS::Queue")
	tlsOnly := map[string]bool{}
	for _, r := range d.ofType("AWS::SQS::QueuePolicy") {
		pp := props(r)
		if denies(pp["PolicyDocument"], "sqs:*", "aws:SecureTransport") {
			for _, q := range strs(pp["Queues"]) {
				tlsOnly[q] = true
			}
		}
	}
	for name := range queues {
		if !tlsOnly["<"+name+">"] {
			t.Errorf("queue %s: no policy denying non-TLS access", name)
		}
	}
}

// denies reports whether a policy document denies action when aws:SecureTransport is false.
func denies(doc any, action, condKey string) bool {
	stmts, _ := doc.(map[string]any)["Statement"].([]any)
	for _, s := range stmts {
		s := s.(map[string]any)
		cond, _ := s["Condition"].(map[string]any)
		b, _ := cond["Bool"].(map[string]any)
		if s["Effect"] == "Deny" && slices.Contains(strs(s["Action"]), action) && b[condKey] == "false" {
			return true
		}
	}
	return false
}

func TestTable(t *testing.T) {
	d, p := stacks(t)
	tests := []struct {
		s          *synthesized
		protection bool
		policy     string
	}{
		{d, false, "Delete"},
		{p, true, "Retain"},
	}
	for _, tt := range tests {
		t.Run(tt.s.name, func(t *testing.T) {
			r := tt.s.one(t, "AWS::DynamoDB::Table", "Table")
			tp := props(r)
			if tp["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("billing mode: got %v, want PAY_PER_REQUEST", tp["BillingMode"])
			}
			pitr, _ := tp["PointInTimeRecoverySpecification"].(map[string]any)
			if pitr["PointInTimeRecoveryEnabled"] != true {
				t.Errorf("point-in-time recovery: got %v, want enabled", pitr)
			}
			ttl, _ := tp["TimeToLiveSpecification"].(map[string]any)
			if ttl["AttributeName"] != dynamo.TTLAttribute || ttl["Enabled"] != true {
				t.Errorf("TTL: got %v, want %s enabled", ttl, dynamo.TTLAttribute)
			}
			if got := tp["DeletionProtectionEnabled"] == true; got != tt.protection {
				t.Errorf("deletion protection: got %v, want %v", got, tt.protection)
			}
			if r["DeletionPolicy"] != tt.policy || r["UpdateReplacePolicy"] != tt.policy {
				t.Errorf("deletion/replace policy: got %v/%v, want %s", r["DeletionPolicy"], r["UpdateReplacePolicy"], tt.policy)
			}
		})
	}
}

// TestTableMatchesAdapterSchema compares the stack's table with the one the
// DynamoDB adapter creates (and its tests run against): keys, attribute
// types and every GSI with its projection.
func TestTableMatchesAdapterSchema(t *testing.T) {
	d, _ := stacks(t)
	want := dynamo.TableDefinition("x")
	tp := props(d.one(t, "AWS::DynamoDB::Table", "Table"))

	keys := func(v any) []string {
		var out []string
		for _, k := range v.([]any) {
			k := k.(map[string]any)
			out = append(out, fmt.Sprintf("%v:%v", k["AttributeName"], k["KeyType"]))
		}
		return out
	}
	sdkKeys := func(ks []types.KeySchemaElement) []string {
		var out []string
		for _, k := range ks {
			out = append(out, fmt.Sprintf("%s:%s", *k.AttributeName, k.KeyType))
		}
		return out
	}
	if got, w := keys(tp["KeySchema"]), sdkKeys(want.KeySchema); !reflect.DeepEqual(got, w) {
		t.Errorf("key schema: got %v, want %v", got, w)
	}
	if got, w := tp["BillingMode"], string(want.BillingMode); got != w {
		t.Errorf("billing mode: got %v, want %v", got, w)
	}
	stream, _ := tp["StreamSpecification"].(map[string]any)
	if got, w := stream["StreamViewType"], string(want.StreamSpecification.StreamViewType); got != w {
		t.Errorf("stream: got %v, want %v", got, w)
	}

	var gotAttrs, wantAttrs []string
	for _, a := range tp["AttributeDefinitions"].([]any) {
		a := a.(map[string]any)
		gotAttrs = append(gotAttrs, fmt.Sprintf("%v:%v", a["AttributeName"], a["AttributeType"]))
	}
	for _, a := range want.AttributeDefinitions {
		wantAttrs = append(wantAttrs, fmt.Sprintf("%s:%s", *a.AttributeName, a.AttributeType))
	}
	sort.Strings(gotAttrs)
	sort.Strings(wantAttrs)
	if !reflect.DeepEqual(gotAttrs, wantAttrs) {
		t.Errorf("attribute definitions:\n got %v\nwant %v", gotAttrs, wantAttrs)
	}

	gsi := func(name string, ks []string, projection any) string {
		return fmt.Sprintf("%s %v %v", name, ks, projection)
	}
	var gotGSIs, wantGSIs []string
	for _, g := range tp["GlobalSecondaryIndexes"].([]any) {
		g := g.(map[string]any)
		gotGSIs = append(gotGSIs, gsi(g["IndexName"].(string), keys(g["KeySchema"]), g["Projection"].(map[string]any)["ProjectionType"]))
	}
	for _, g := range want.GlobalSecondaryIndexes {
		wantGSIs = append(wantGSIs, gsi(*g.IndexName, sdkKeys(g.KeySchema), string(g.Projection.ProjectionType)))
	}
	sort.Strings(gotGSIs)
	sort.Strings(wantGSIs)
	if !reflect.DeepEqual(gotGSIs, wantGSIs) {
		t.Errorf("GSIs:\n got %v\nwant %v", gotGSIs, wantGSIs)
	}
}

func TestBucket(t *testing.T) {
	d, p := stacks(t)
	for _, tt := range []struct {
		s      *synthesized
		policy string
	}{{d, "Delete"}, {p, "Retain"}} {
		t.Run(tt.s.name, func(t *testing.T) {
			r := tt.s.one(t, "AWS::S3::Bucket", "Bucket")
			bp := props(r)
			block := bp["PublicAccessBlockConfiguration"].(map[string]any)
			for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
				if block[k] != true {
					t.Errorf("public access block %s: got %v, want true", k, block[k])
				}
			}
			enc := bp["BucketEncryption"].(map[string]any)["ServerSideEncryptionConfiguration"].([]any)
			if len(enc) == 0 {
				t.Error("no default encryption")
			}
			expire := map[string]float64{}
			for _, rule := range bp["LifecycleConfiguration"].(map[string]any)["Rules"].([]any) {
				rule := rule.(map[string]any)
				if prefix, ok := rule["Prefix"].(string); ok && rule["Status"] == "Enabled" {
					expire[prefix] = num(rule["ExpirationInDays"])
				}
			}
			if got := expire[PrefixClaimCheck]; got < dlqRetentionD+1 {
				t.Errorf("claim-check expiry: got %v days, want more than the DLQ's %d days", got, dlqRetentionD)
			}
			if _, ok := expire[PrefixMalformed]; !ok {
				t.Error("no lifecycle rule for malformed bodies")
			}
			for _, keep := range []string{PrefixMedia, PrefixAttachments} {
				if _, ok := expire[keep]; ok {
					t.Errorf("lifecycle expires %s: customer data must be kept", keep)
				}
			}
			if r["DeletionPolicy"] != tt.policy {
				t.Errorf("deletion policy: got %v, want %s", r["DeletionPolicy"], tt.policy)
			}
			// Attachments are uploaded from the browser with presigned POST forms.
			for _, rule := range bp["CorsConfiguration"].(map[string]any)["CorsRules"].([]any) {
				if methods := strs(rule.(map[string]any)["AllowedMethods"]); !slices.Contains(methods, "POST") {
					t.Errorf("bucket CORS allows %v, want POST among them (upload forms)", methods)
				}
			}
			tlsOnly := false
			for _, pol := range tt.s.ofType("AWS::S3::BucketPolicy") {
				if render(props(pol)["Bucket"]) == "<Bucket>" && denies(props(pol)["PolicyDocument"], "s3:*", "aws:SecureTransport") {
					tlsOnly = true
				}
			}
			if !tlsOnly {
				t.Error("no bucket policy denying non-TLS access")
			}
		})
	}
}

func TestWebhookSecret(t *testing.T) {
	d, _ := stacks(t)
	gen := props(d.one(t, "AWS::SecretsManager::Secret", "WebhookSecret"))["GenerateSecretString"].(map[string]any)
	if got := gen["GenerateStringKey"]; got != WebhookSecretVerifyTokenKey {
		t.Errorf("generated key: got %v, want %s", got, WebhookSecretVerifyTokenKey)
	}
	if got, want := gen["SecretStringTemplate"], `{"appSecret":"REPLACE_WITH_META_APP_SECRET"}`; got != want {
		t.Errorf("template: got %v, want %v", got, want)
	}
	if got := num(gen["PasswordLength"]); got < 32 {
		t.Errorf("verify token length: got %v, want >= 32", got)
	}
	// The webhook refuses exactly the placeholder the stack writes, and
	// says so with the metric the alarm's filter counts.
	if WebhookSecretPlaceholder != httpapi.PlaceholderAppSecret {
		t.Errorf("placeholder %q, but the webhook refuses %q", WebhookSecretPlaceholder, httpapi.PlaceholderAppSecret)
	}
	alarm := props(d.one(t, "AWS::CloudWatch::Alarm", "WebhookSecretPlaceholderAlarm"))
	if got := render(alarm["Dimensions"]); !strings.Contains(got, string(metric.WebhookSecretPlaceholder)) {
		t.Errorf("placeholder alarm watches %s, want the %s events", got, metric.WebhookSecretPlaceholder)
	}
}

// The Stripe secret holds the key the api function reads, a placeholder
// until the team sets it.
func TestStripeSecret(t *testing.T) {
	d, _ := stacks(t)
	gen := props(d.one(t, "AWS::SecretsManager::Secret", "StripeSecret"))["GenerateSecretString"].(map[string]any)
	if got, want := gen["SecretStringTemplate"], `{"secretKey":"REPLACE_WITH_STRIPE_SECRET_KEY"}`; got != want || gen["GenerateStringKey"] != StripeSecretWebhookKey {
		t.Errorf("template %v key %v, want %v and %s", got, gen["GenerateStringKey"], want, StripeSecretWebhookKey)
	}
	var ss awsapp.StripeSecret
	if err := json.Unmarshal([]byte(`{"`+StripeSecretKeyKey+`":"sk","`+StripeSecretWebhookKey+`":"wh"}`), &ss); err != nil || ss.SecretKey != "sk" || ss.WebhookSecret != "wh" {
		t.Errorf("stripe secret keys %s/%s: the api function reads %+v (err %v)", StripeSecretKeyKey, StripeSecretWebhookKey, ss, err)
	}
	api := props(d.one(t, "AWS::Lambda::Function", "ApiFunction"))
	if got := render(api["Environment"].(map[string]any)["Variables"].(map[string]any)[EnvStripeSecretARN]); got != "<StripeSecret>" {
		t.Errorf("api %s = %s, want the Stripe secret", EnvStripeSecretARN, got)
	}
}

func TestHTTPAPI(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		t.Run(s.name, func(t *testing.T) {
			authorizers := s.ofType("AWS::ApiGatewayV2::Authorizer")
			if len(authorizers) != 1 {
				t.Fatalf("authorizers: got %d, want 1", len(authorizers))
			}
			var authID string
			for id := range authorizers {
				authID = "<" + id + ">"
			}
			got := map[string]string{}
			for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
				rp := props(r)
				auth := fmt.Sprint(rp["AuthorizationType"])
				if auth == "JWT" {
					auth += " " + render(rp["AuthorizerId"])
				}
				got[rp["RouteKey"].(string)] = auth + " -> " + render(rp["Target"])
			}
			want := map[string]string{
				"GET /webhook":              "NONE -> integrations/<HttpApiGETwebhookWebhookIntegration>",
				"POST /webhook":             "NONE -> integrations/<HttpApiGETwebhookWebhookIntegration>",
				"ANY /v1/{proxy+}":          "JWT " + authID + " -> integrations/<HttpApiANYv1proxyApiIntegration>",
				"GET /openapi.json":         "NONE -> integrations/<HttpApiANYv1proxyApiIntegration>",
				"POST " + StripeWebhookPath: "NONE -> integrations/<HttpApiANYv1proxyApiIntegration>",
				"GET /asyncapi.json":        "NONE -> integrations/<HttpApiGETasyncapijsonAsyncApiIntegration>",
				// The WebSocket API (push_test.go checks it).
				"$connect":    "NONE -> integrations/<WebSocketApiconnectRouteWebSocketConnect>",
				"$disconnect": "NONE -> integrations/<WebSocketApidisconnectRouteWebSocketDisconnect>",
				"$default":    "NONE -> integrations/<WebSocketApidefaultRouteWebSocketDefault>",
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("routes:\n got %v\nwant %v", got, want)
			}
			integrations := map[string]string{}
			for id, r := range s.ofType("AWS::ApiGatewayV2::Integration") {
				integrations[id] = render(props(r)["IntegrationUri"])
			}
			wsFn := "arn:${Partition}:apigateway:${Region}:lambda:path/2015-03-31/functions/<WsFunction.Arn>/invocations"
			wantInt := map[string]string{
				"HttpApiGETwebhookWebhookIntegration":            "<WebhookFunction.Arn>",
				"HttpApiANYv1proxyApiIntegration":                "<ApiFunction.Arn>",
				"HttpApiGETasyncapijsonAsyncApiIntegration":      "<ApiFunction.Arn>",
				"WebSocketApiconnectRouteWebSocketConnect":       wsFn,
				"WebSocketApidisconnectRouteWebSocketDisconnect": wsFn,
				"WebSocketApidefaultRouteWebSocketDefault":       wsFn,
			}
			if !reflect.DeepEqual(integrations, wantInt) {
				t.Errorf("integrations: got %v, want %v", integrations, wantInt)
			}
			stage := props(s.one(t, "AWS::ApiGatewayV2::Stage", "HttpApiDefaultStage"))
			if stage["StageName"] != "$default" || stage["AutoDeploy"] != true {
				t.Errorf("stage: got %v auto-deploy %v, want $default auto-deployed", stage["StageName"], stage["AutoDeploy"])
			}
			als, _ := stage["AccessLogSettings"].(map[string]any)
			if got := render(als["DestinationArn"]); got != "<ApiAccessLogs.Arn>" {
				t.Errorf("access logs: got %q, want <ApiAccessLogs.Arn>", got)
			}
		})
	}

	devAuth := props(d.one(t, "AWS::ApiGatewayV2::Authorizer", "HttpApiUserPoolAuthorizer"))
	jwt := devAuth["JwtConfiguration"].(map[string]any)
	if got, want := render(jwt["Issuer"]), "https://cognito-idp.${Region}.amazonaws.com/<UserPool>"; got != want {
		t.Errorf("dev issuer: got %s, want %s", got, want)
	}
	if got, want := strs(jwt["Audience"]), []string{"<UserPoolWebClient>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dev audience: got %v, want %v", got, want)
	}
	prodAuth := props(p.one(t, "AWS::ApiGatewayV2::Authorizer", "HttpApiJwtAuthorizer"))
	jwt = prodAuth["JwtConfiguration"].(map[string]any)
	if got := jwt["Issuer"]; got != prodIssuer {
		t.Errorf("prod issuer: got %v, want %s", got, prodIssuer)
	}
	if got := strs(jwt["Audience"]); !reflect.DeepEqual(got, prodAudience) {
		t.Errorf("prod audience: got %v, want %v", got, prodAudience)
	}
	cors := props(p.one(t, "AWS::ApiGatewayV2::Api", "HttpApi"))["CorsConfiguration"].(map[string]any)
	if got := strs(cors["AllowOrigins"]); !reflect.DeepEqual(got, []string{"https://crm.example.com"}) {
		t.Errorf("prod CORS origins: got %v", got)
	}
	// The headers a browser client sends and reads, as the local stack allows them.
	for _, want := range []string{"Location", "Idempotency-Key", "ETag"} {
		if !slices.Contains(strs(cors["ExposeHeaders"]), want) {
			t.Errorf("CORS exposes %v, want %s among them", strs(cors["ExposeHeaders"]), want)
		}
	}
	for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key"} {
		if !slices.Contains(strs(cors["AllowHeaders"]), want) {
			t.Errorf("CORS allows headers %v, want %s among them", strs(cors["AllowHeaders"]), want)
		}
	}
}

func TestUserPool(t *testing.T) {
	d, p := stacks(t)
	r := d.one(t, "AWS::Cognito::UserPool", "UserPool")
	up := props(r)
	if up["AdminCreateUserConfig"].(map[string]any)["AllowAdminCreateUserOnly"] != true {
		t.Error("self sign-up is on")
	}
	var org map[string]any
	for _, a := range up["Schema"].([]any) {
		if a := a.(map[string]any); a["Name"] == OrgAttribute {
			org = a
		}
	}
	if org == nil || org["Mutable"] != false || org["AttributeDataType"] != "String" {
		t.Errorf("custom attribute org: got %v, want an immutable string", org)
	}
	var roles map[string]any
	for _, a := range up["Schema"].([]any) {
		if a := a.(map[string]any); a["Name"] == RolesAttribute {
			roles = a
		}
	}
	if roles == nil || roles["Mutable"] != true || roles["AttributeDataType"] != "String" {
		t.Errorf("custom attribute roles: got %v, want a mutable string", roles)
	}
	if r["DeletionPolicy"] != "Delete" {
		t.Errorf("dev user pool deletion policy: got %v", r["DeletionPolicy"])
	}
	client := props(d.one(t, "AWS::Cognito::UserPoolClient", "UserPoolWebClient"))
	if client["GenerateSecret"] != false {
		t.Errorf("client secret: got %v, want none (browser app)", client["GenerateSecret"])
	}
	if got := strs(client["ReadAttributes"]); !slices.Contains(got, "custom:org") || !slices.Contains(got, "custom:roles") {
		t.Errorf("client read attributes %v: want custom:org and custom:roles", got)
	}
	if got := strs(client["WriteAttributes"]); slices.Contains(got, "custom:org") || slices.Contains(got, "custom:roles") {
		t.Errorf("client write attributes %v: must not include custom:org or custom:roles (a user would set their own)", got)
	}
	must(t, "admin group", func() {
		d.tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), &map[string]any{"GroupName": AdminGroup})
	})
	for _, out := range []string{"UserPoolId", "UserPoolClientId"} {
		if _, ok := d.json["Outputs"].(map[string]any)[out]; !ok {
			t.Errorf("dev: no output %s", out)
		}
		if _, ok := p.json["Outputs"].(map[string]any)[out]; ok {
			t.Errorf("prod with an external issuer: unexpected output %s", out)
		}
	}
	if n := len(p.ofType("AWS::Cognito::UserPool")); n != 0 {
		t.Errorf("prod with an external issuer: got %d user pools, want 0", n)
	}
}

// TestLeastPrivilege lists every permission each function role has; a new
// grant must be added here on purpose.
func TestLeastPrivilege(t *testing.T) {
	d, _ := stacks(t)
	tokens := "arn:${Partition}:secretsmanager:${Region}:${AccountId}:secret:wacrm/Wacrm/tokens/*"
	schedules := "arn:${Partition}:scheduler:${Region}:${AccountId}:schedule/wacrm-Wacrm/*"
	table := []string{"<Table.Arn>", "<Table.Arn>/index/*"}
	tableRW := func() map[string][]string {
		m := map[string][]string{}
		for _, a := range tableActions {
			m[a] = table
		}
		return m
	}
	with := func(m map[string][]string, extra map[string][]string) map[string][]string {
		for k, v := range extra {
			m[k] = append(m[k], v...)
		}
		return m
	}
	logs := func(fn string) map[string][]string {
		return map[string][]string{"logs:CreateLogStream": {"<" + fn + "Logs.Arn>"}, "logs:PutLogEvents": {"<" + fn + "Logs.Arn>"}}
	}
	sendTo := func(q string) map[string][]string {
		return map[string][]string{"sqs:SendMessage": {q}, "sqs:GetQueueAttributes": {q}, "sqs:GetQueueUrl": {q}}
	}
	// A table stream consumer reads the stream and sends what it gives up
	// on to its failure queue (with() adds the queue).
	stream := func() map[string][]string {
		st := []string{"<Table.StreamArn>"}
		return map[string][]string{"dynamodb:ListStreams": {"*"}, "dynamodb:DescribeStream": st, "dynamodb:GetRecords": st, "dynamodb:GetShardIterator": st}
	}
	consume := func(q string) map[string][]string {
		return map[string][]string{"sqs:ReceiveMessage": {q}, "sqs:ChangeMessageVisibility": {q}, "sqs:GetQueueUrl": {q},
			"sqs:DeleteMessage": {q}, "sqs:GetQueueAttributes": {q}}
	}
	want := map[string]map[string][]string{
		"WebhookFunctionRoleDefaultPolicy": with(with(logs("WebhookFunction"), sendTo("<InboundQueue.Arn>")), map[string][]string{
			"s3:PutObject":                  {"<Bucket.Arn>/claimcheck/*", "<Bucket.Arn>/malformed/*"},
			"secretsmanager:GetSecretValue": {"<WebhookSecret>"},
			"secretsmanager:DescribeSecret": {"<WebhookSecret>"},
		}),
		"InboundFunctionRoleDefaultPolicy": with(with(with(with(logs("InboundFunction"), tableRW()), consume("<InboundQueue.Arn>")), sendTo("<MediaQueue.Arn>")), map[string][]string{
			"s3:GetObject":    {"<Bucket.Arn>/claimcheck/*"},
			"s3:DeleteObject": {"<Bucket.Arn>/claimcheck/*"},
			"s3:PutObject":    {"<Bucket.Arn>/malformed/*"},
		}),
		"ApiFunctionRoleDefaultPolicy": with(with(with(logs("ApiFunction"), tableRW()), sendTo("<OutboundQueue.Arn>")), map[string][]string{
			"s3:GetObject":                  {"<Bucket.Arn>/attachments/*", "<Bucket.Arn>/media/*", "<Bucket.Arn>/config/*"},
			"s3:PutObject":                  {"<Bucket.Arn>/attachments/*", "<Bucket.Arn>/media/*", "<Bucket.Arn>/malformed/*"},
			"s3:DeleteObject":               {"<Bucket.Arn>/attachments/*"},
			"secretsmanager:CreateSecret":   {tokens},
			"secretsmanager:PutSecretValue": {tokens},
			"secretsmanager:GetSecretValue": {tokens, "<WebhookSecret>", "<StripeSecret>"},
			"secretsmanager:DescribeSecret": {tokens, "<WebhookSecret>", "<StripeSecret>"},
			"secretsmanager:TagResource":    {tokens},
		}),
		"SendFunctionRoleDefaultPolicy": with(with(with(with(logs("SendFunction"), tableRW()), sendTo("<OutboundQueue.Arn>")), consume("<OutboundQueue.Arn>")), map[string][]string{
			"s3:GetObject":                  {"<Bucket.Arn>/attachments/*"},
			"secretsmanager:GetSecretValue": {tokens},
			"secretsmanager:DescribeSecret": {tokens},
		}),
		"MediaFunctionRoleDefaultPolicy": with(with(with(with(logs("MediaFunction"), tableRW()), sendTo("<MediaQueue.Arn>")), consume("<MediaQueue.Arn>")), map[string][]string{
			"s3:PutObject":                  {"<Bucket.Arn>/media/*"},
			"secretsmanager:GetSecretValue": {tokens},
		}),
		"ScheduleFunctionRoleDefaultPolicy": with(with(with(with(logs("ScheduleFunction"), tableRW()), sendTo("<ScheduleQueue.Arn>")), consume("<ScheduleQueue.Arn>")), map[string][]string{
			"scheduler:CreateSchedule": {schedules},
			"scheduler:UpdateSchedule": {schedules},
			"scheduler:DeleteSchedule": {schedules},
			"iam:PassRole":             {"<SchedulerRole.Arn>"},
		}),
		"NotifyFunctionRoleDefaultPolicy": with(with(with(with(with(logs("NotifyFunction"), tableRW()), sendTo("<ScheduleQueue.Arn>")), stream()), map[string][]string{
			"scheduler:CreateSchedule": {schedules},
			"scheduler:UpdateSchedule": {schedules},
			"scheduler:DeleteSchedule": {schedules},
			"iam:PassRole":             {"<SchedulerRole.Arn>"},
		}), sendTo("<NotifyStreamFailures.Arn>")),
		"PushFunctionRoleDefaultPolicy": with(with(with(with(logs("PushFunction"), tableRW()), stream()), map[string][]string{
			"execute-api:ManageConnections": {"arn:${Partition}:execute-api:${Region}:${AccountId}:<WebSocketApi>/live/*/@connections/*"},
		}), sendTo("<PushStreamFailures.Arn>")),
		"WsFunctionRoleDefaultPolicy": with(logs("WsFunction"), tableRW()),
		// The recharge function reads the table's stream, the rate card and
		// Stripe's key; it writes payments and refunds to the table.
		"RechargeFunctionRoleDefaultPolicy": with(with(with(with(logs("RechargeFunction"), tableRW()), stream()), map[string][]string{
			"s3:GetObject":                  {"<Bucket.Arn>/config/*"},
			"secretsmanager:GetSecretValue": {"<StripeSecret>"},
			"secretsmanager:DescribeSecret": {"<StripeSecret>"},
		}), sendTo("<RechargeStreamFailures.Arn>")),
		// EventBridge Scheduler sends firings to the schedule queue, and what
		// it cannot deliver to the queue's DLQ; nothing else.
		"SchedulerRoleDefaultPolicy": with(sendTo("<ScheduleQueue.Arn>"), sendTo("<ScheduleDLQ.Arn>")),
	}

	policies := d.ofType("AWS::IAM::Policy")
	if len(policies) != len(want) {
		t.Errorf("IAM policies: got %d, want %d", len(policies), len(want))
	}
	for name, wantPerms := range want {
		t.Run(name, func(t *testing.T) {
			pol, ok := policies[name]
			if !ok {
				t.Fatalf("no policy %s", name)
			}
			got := map[string][]string{}
			for _, s := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				s := s.(map[string]any)
				if s["Effect"] != "Allow" {
					continue
				}
				for _, a := range strs(s["Action"]) {
					got[a] = append(got[a], strs(s["Resource"])...)
				}
			}
			for _, m := range []map[string][]string{got, wantPerms} {
				for a := range m {
					slices.Sort(m[a])
					m[a] = slices.Compact(m[a])
				}
			}
			if !reflect.DeepEqual(got, wantPerms) {
				t.Errorf("permissions:\n got %v\nwant %v", got, wantPerms)
			}
		})
	}
	for id, r := range d.ofType("AWS::IAM::Role") {
		if arns := props(r)["ManagedPolicyArns"]; arns != nil {
			t.Errorf("role %s has managed policies %v: want only its own inline grants", id, render(arns))
		}
	}
}

func TestOperations(t *testing.T) {
	d, _ := stacks(t)
	got := map[string]string{}
	for id, r := range d.ofType("AWS::CloudWatch::Alarm") {
		ap := props(r)
		if got := strs(ap["AlarmActions"]); !reflect.DeepEqual(got, []string{"<AlarmTopic>"}) {
			t.Errorf("alarm %s actions: got %v, want the alarm topic", id, got)
		}
		var dims []string
		list, _ := ap["Dimensions"].([]any)
		for _, dim := range list {
			dims = append(dims, render(dim.(map[string]any)["Value"]))
		}
		got[id] = fmt.Sprintf("%s %v %s %v", ap["MetricName"], dims, ap["ComparisonOperator"], ap["Threshold"])
	}
	want := map[string]string{
		"InboundDLQDepthAlarm":  "ApproximateNumberOfMessagesVisible [<InboundDLQ.QueueName>] GreaterThanOrEqualToThreshold 1",
		"OutboundDLQDepthAlarm": "ApproximateNumberOfMessagesVisible [<OutboundDLQ.QueueName>] GreaterThanOrEqualToThreshold 1",
		"InboundAgeAlarm":       "ApproximateAgeOfOldestMessage [<InboundQueue.QueueName>] GreaterThanOrEqualToThreshold 300",
		"OutboundAgeAlarm":      "ApproximateAgeOfOldestMessage [<OutboundQueue.QueueName>] GreaterThanOrEqualToThreshold 600",
		"MediaDLQDepthAlarm":    "ApproximateNumberOfMessagesVisible [<MediaDLQ.QueueName>] GreaterThanOrEqualToThreshold 1",
		"MediaAgeAlarm":         "ApproximateAgeOfOldestMessage [<MediaQueue.QueueName>] GreaterThanOrEqualToThreshold 900",
		"Api5xxAlarm":           "5xx [<HttpApi>] GreaterThanOrEqualToThreshold 5",
		"WebhookErrorsAlarm":    "Errors [<WebhookFunction>] GreaterThanOrEqualToThreshold 1",
		"WebhookThrottlesAlarm": "Throttles [<WebhookFunction>] GreaterThanOrEqualToThreshold 1",
		"InboundErrorsAlarm":    "Errors [<InboundFunction>] GreaterThanOrEqualToThreshold 1",
		"InboundThrottlesAlarm": "Throttles [<InboundFunction>] GreaterThanOrEqualToThreshold 1",
		"ApiErrorsAlarm":        "Errors [<ApiFunction>] GreaterThanOrEqualToThreshold 1",
		"ApiThrottlesAlarm":     "Throttles [<ApiFunction>] GreaterThanOrEqualToThreshold 1",
		"SendErrorsAlarm":       "Errors [<SendFunction>] GreaterThanOrEqualToThreshold 1",
		"SendThrottlesAlarm":    "Throttles [<SendFunction>] GreaterThanOrEqualToThreshold 1",
		"MediaErrorsAlarm":      "Errors [<MediaFunction>] GreaterThanOrEqualToThreshold 1",
		"MediaThrottlesAlarm":   "Throttles [<MediaFunction>] GreaterThanOrEqualToThreshold 1",
		"WebhookSignatureAlarm": "Events [webhook_signature_refused] GreaterThanOrEqualToThreshold 5",
		"SendInDoubtAlarm":      "Events [send_in_doubt] GreaterThanOrEqualToThreshold 1",
		"UnknownNumberAlarm":    "Events [dropped_unknown_number] GreaterThanOrEqualToThreshold 1",
		"MediaRefusedAlarm":     "Events [media_refused] GreaterThanOrEqualToThreshold 5",
		"UnprocessableAlarm":    "Events [unprocessable_body] GreaterThanOrEqualToThreshold 1",
		"UnrecordedWamidAlarm":  "Events [unrecorded_wamid] GreaterThanOrEqualToThreshold 1",
		// Schedules: late firings, failed ones, and what EventBridge lost.
		"ScheduleAgeAlarm":           "ApproximateAgeOfOldestMessage [<ScheduleQueue.QueueName>] GreaterThanOrEqualToThreshold 300",
		"ScheduleDLQDepthAlarm":      "ApproximateNumberOfMessagesVisible [<ScheduleDLQ.QueueName>] GreaterThanOrEqualToThreshold 1",
		"ScheduleErrorsAlarm":        "Errors [<ScheduleFunction>] GreaterThanOrEqualToThreshold 1",
		"ScheduleThrottlesAlarm":     "Throttles [<ScheduleFunction>] GreaterThanOrEqualToThreshold 1",
		"SchedulesDroppedAlarm":      "InvocationDroppedCount [wacrm-Wacrm] GreaterThanOrEqualToThreshold 1",
		"SchedulesNotSentToDLQAlarm": "InvocationsFailedToBeSentToDeadLetterCount [wacrm-Wacrm] GreaterThanOrEqualToThreshold 1",
		// Live push and notifications: the stream consumers and the WebSocket API.
		"NotifyErrorsAlarm":            "Errors [<NotifyFunction>] GreaterThanOrEqualToThreshold 1",
		"NotifyThrottlesAlarm":         "Throttles [<NotifyFunction>] GreaterThanOrEqualToThreshold 1",
		"NotifyStreamFailuresAlarm":    "ApproximateNumberOfMessagesVisible [<NotifyStreamFailures.QueueName>] GreaterThanOrEqualToThreshold 1",
		"NotifyStreamIteratorAgeAlarm": "IteratorAge [<NotifyFunction>] GreaterThanOrEqualToThreshold 300000",
		"PushErrorsAlarm":              "Errors [<PushFunction>] GreaterThanOrEqualToThreshold 1",
		"PushThrottlesAlarm":           "Throttles [<PushFunction>] GreaterThanOrEqualToThreshold 1",
		"PushStreamFailuresAlarm":      "ApproximateNumberOfMessagesVisible [<PushStreamFailures.QueueName>] GreaterThanOrEqualToThreshold 1",
		"PushStreamIteratorAgeAlarm":   "IteratorAge [<PushFunction>] GreaterThanOrEqualToThreshold 300000",
		"WsErrorsAlarm":                "Errors [<WsFunction>] GreaterThanOrEqualToThreshold 1",
		"WsThrottlesAlarm":             "Throttles [<WsFunction>] GreaterThanOrEqualToThreshold 1",
		"WebSocketErrorsAlarm":         "IntegrationError [<WebSocketApi>] GreaterThanOrEqualToThreshold 10",
	}
	// The recharge stream consumer: a batch given up on, falling behind.
	want["RechargeErrorsAlarm"] = "Errors [<RechargeFunction>] GreaterThanOrEqualToThreshold 1"
	want["RechargeThrottlesAlarm"] = "Throttles [<RechargeFunction>] GreaterThanOrEqualToThreshold 1"
	want["RechargeStreamFailuresAlarm"] = "ApproximateNumberOfMessagesVisible [<RechargeStreamFailures.QueueName>] GreaterThanOrEqualToThreshold 1"
	want["RechargeStreamIteratorAgeAlarm"] = "IteratorAge [<RechargeFunction>] GreaterThanOrEqualToThreshold 300000"
	want["WebhookSecretPlaceholderAlarm"] = "Events [webhook_secret_placeholder] GreaterThanOrEqualToThreshold 1"
	want["RechargeDeclinedAlarm"] = "Events [billing_recharge_declined] GreaterThanOrEqualToThreshold 1"
	want["AutoRechargeOffAlarm"] = "Events [billing_auto_recharge_off] GreaterThanOrEqualToThreshold 1"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alarms:\n got %v\nwant %v", got, want)
	}
	must(t, "dashboard", func() { d.tmpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1)) })
	// The dashboard graphs every queue and every function.
	body := render(props(d.one(t, "AWS::CloudWatch::Dashboard", "Dashboard"))["DashboardBody"])
	var graphed []string
	for id := range d.ofType("AWS::SQS::Queue") {
		graphed = append(graphed, "<"+id+".QueueName>")
	}
	for id := range d.ofType("AWS::Lambda::Function") {
		graphed = append(graphed, "<"+id+">")
	}
	for _, ref := range graphed {
		if !strings.Contains(body, ref) {
			t.Errorf("dashboard does not graph %s", ref)
		}
	}
	must(t, "alarm topic TLS only", func() {
		d.tmpl.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), assertions.Match_ObjectLike(&map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Effect":    "Deny",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})}),
			}),
		}))
	})

	outputs := d.json["Outputs"].(map[string]any)
	for name, want := range map[string]string{
		"WebhookUrl": "https://<HttpApi>.execute-api.${Region}.${URLSuffix}/webhook",
		"ApiUrl":     "https://<HttpApi>.execute-api.${Region}.${URLSuffix}/",
	} {
		o, _ := outputs[name].(map[string]any)
		if got := render(o["Value"]); got != want {
			t.Errorf("output %s: got %s, want %s", name, got, want)
		}
	}
}

func TestProdProtection(t *testing.T) {
	d, p := stacks(t)
	if d.protect || !p.protect {
		t.Errorf("termination protection: dev %v, prod %v; want false, true", d.protect, p.protect)
	}
	for typ, prefix := range map[string]string{
		"AWS::DynamoDB::Table":        "Table",
		"AWS::S3::Bucket":             "Bucket",
		"AWS::SecretsManager::Secret": "WebhookSecret",
		"AWS::Logs::LogGroup":         "ApiAccessLogs",
	} {
		if got := p.one(t, typ, prefix)["DeletionPolicy"]; got != "Retain" {
			t.Errorf("prod %s: deletion policy %v, want Retain", prefix, got)
		}
	}
	subs := p.ofType("AWS::SNS::Subscription")
	if len(subs) != 1 {
		t.Fatalf("prod alarm e-mail subscriptions: got %d, want 1", len(subs))
	}
}

func TestPropsFromContext(t *testing.T) {
	dist := t.TempDir()
	if err := writeZips(dist); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ctx      map[string]any
		wantName string
		check    func(t *testing.T, p *WacrmStackProps)
		noValid  bool // check the parsed props only: ../dist may or may not hold zips
		wantErr  string
	}{
		{
			name: "defaults", ctx: map[string]any{}, wantName: "Wacrm",
			check: func(t *testing.T, p *WacrmStackProps) {
				if p.Prod || p.JWTIssuer != "" || len(p.JWTAudience) != 0 {
					t.Errorf("got %+v, want a dev stack with its own user pool", p)
				}
				if want, _ := filepath.Abs(filepath.Join("..", "dist")); p.DistDir != want {
					t.Errorf("dist dir: got %s, want %s", p.DistDir, want)
				}
			},
			noValid: true,
		},
		{
			name: "cli strings", wantName: "WacrmProd",
			ctx: map[string]any{"distDir": dist, "stackName": "WacrmProd", "prod": "true", "jwtIssuer": "https://id.example.com",
				"jwtAudience": " a, b ,", "graphApiVersion": "v24.0", "alarmEmail": "ops@example.com", "metaAppId": " 123 ", "rolesClaim": "roles"},
			check: func(t *testing.T, p *WacrmStackProps) {
				if !p.Prod {
					t.Error("prod: got false, want true")
				}
				if !reflect.DeepEqual(p.JWTAudience, []string{"a", "b"}) {
					t.Errorf("audience: got %q, want [a b]", p.JWTAudience)
				}
				if p.GraphAPIVersion != "v24.0" || p.AlarmEmail != "ops@example.com" || p.MetaAppID != "123" || p.RolesClaim != "roles" {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name: "cdk.json types", wantName: "Wacrm",
			ctx: map[string]any{"distDir": dist, "prod": false, "corsOrigins": []any{"https://a.example", "https://b.example"}},
			check: func(t *testing.T, p *WacrmStackProps) {
				if p.Prod || !reflect.DeepEqual(p.CORSOrigins, []string{"https://a.example", "https://b.example"}) {
					t.Errorf("got prod=%v origins=%v", p.Prod, p.CORSOrigins)
				}
			},
		},
		{name: "bad prod", ctx: map[string]any{"distDir": dist, "prod": "yes please"}, wantErr: "context prod"},
		{name: "issuer without audience", ctx: map[string]any{"distDir": dist, "jwtIssuer": "https://id.example.com"}, wantErr: "needs jwtAudience"},
		{name: "audience without issuer", ctx: map[string]any{"distDir": dist, "jwtAudience": "a"}, wantErr: "without jwtIssuer"},
		{name: "http issuer", ctx: map[string]any{"distDir": dist, "jwtIssuer": "http://id.example.com", "jwtAudience": "a"}, wantErr: "https"},
		{name: "missing zips", ctx: map[string]any{"distDir": t.TempDir()}, wantErr: "run `make build` first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, p, err := propsFromContext(func(k string) any { return tt.ctx[k] })
			if err == nil && !tt.noValid {
				err = p.validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if name != tt.wantName {
				t.Errorf("stack name: got %s, want %s", name, tt.wantName)
			}
			tt.check(t, p)
		})
	}
}

// TestContractMatchesFunctions checks the names this stack sets against the
// ones the functions read (shared/aws/awsapp).
func TestContractMatchesFunctions(t *testing.T) {
	tests := []struct{ got, want string }{
		{EnvTable, awsapp.EnvTable},
		{EnvBucket, awsapp.EnvBucket},
		{EnvInboundQueueURL, awsapp.EnvInboundQueue},
		{EnvOutboundQueueURL, awsapp.EnvOutboundQueue},
		{EnvMediaQueueURL, awsapp.EnvMediaQueue},
		{EnvWebhookSecretARN, awsapp.EnvWebhookSecret},
		{EnvTokenSecretPrefix, awsapp.EnvTokenPrefix},
		{EnvGraphBaseURL, awsapp.EnvGraphBaseURL},
		{EnvOrgClaim, awsapp.EnvOrgClaim},
		{EnvGroupsClaim, awsapp.EnvGroupsClaim},
		{EnvRolesClaim, awsapp.EnvRolesClaim},
		{EnvMetaAppID, awsapp.EnvMetaAppID},
		{EnvStripeSecretARN, awsapp.EnvStripeSecret},
		{EnvScheduleGroup, awsapp.EnvScheduleGroup},
		{EnvScheduleQueueURL, awsapp.EnvScheduleQueue},
		{EnvScheduleQueueARN, awsapp.EnvScheduleQueueARN},
		{EnvSchedulerRoleARN, awsapp.EnvSchedulerRole},
		{EnvScheduleDLQARN, awsapp.EnvScheduleDLQ},
		{GraphBaseURL(DefaultGraphAPIVersion), awsapp.DefaultGraphURL},
		{PrefixMalformed, httpapi.MalformedPrefix},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	var ws awsapp.WebhookSecret
	if err := json.Unmarshal([]byte(`{"`+WebhookSecretAppSecretKey+`":"a","`+WebhookSecretPreviousAppSecretKey+`":"p","`+WebhookSecretVerifyTokenKey+`":"v"}`), &ws); err != nil ||
		ws.AppSecret != "a" || ws.PreviousAppSecret != "p" || ws.VerifyToken != "v" {
		t.Errorf("webhook secret keys %s/%s/%s: the webhook function reads %+v (err %v)", WebhookSecretAppSecretKey, WebhookSecretPreviousAppSecretKey, WebhookSecretVerifyTokenKey, ws, err)
	}
	claims := awsapp.Claims(awsapp.Env{})
	if claims.Org != DefaultOrgClaim || claims.Groups != DefaultGroupsClaim || claims.Roles != DefaultRolesClaim {
		t.Errorf("default claims: functions use %+v, stack sets %s/%s/%s", claims, DefaultOrgClaim, DefaultGroupsClaim, DefaultRolesClaim)
	}
}
