package functest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wacrm/wacrm/scripts/lambdaharness"
	"github.com/wacrm/wacrm/shared/aws/awsapp"
	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/aws/sqs"
	"github.com/wacrm/wacrm/shared/aws/sqs/sqstest"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

var (
	invokes = flag.Int("invokes", 20, "invocations per measured row of TestFunctions")
	colds   = flag.Int("cold", 3, "extra cold starts (no events) per function of TestFunctions, for the init figure")
)

const (
	modulePath = "github.com/wacrm/wacrm"
	rootDir    = "../../.."

	region = "us-east-1"
	// DynamoDB Local keeps tables per access key and region: the functions
	// sign as dynamotest's client does, so they see the test's table.
	accessKeyID = "local"
	secretKey   = "local"

	org           = "acme"                                 // custom:org in events/apigw/api_list_conversations.json
	userID        = "7d8c1f2e-0000-4000-8000-000000000001" // its sub
	phoneNumberID = "106540352242922"                      // metadata.phone_number_id of the events/whatsapp and events/sqs samples
	customerWAID  = "16505551234"
	integrationID = "int_functest"
	appSecret     = "local-app-secret"   // signs events/apigw/webhook_post.json
	verifyToken   = "local-verify-token" // events/apigw/webhook_handshake.json
	accessToken   = "EAAGfunctest0access0token"

	// The number an admin connects through the api: its token reads it.
	secondAccessToken   = "EAAGfunctest0second0token"
	secondPhoneNumberID = "106540352242999"
	secondWABAID        = "102290129340398"

	webhookSecretARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:wacrm/functest/webhook-AbCdEf"
	stripeSecretARN  = "arn:aws:secretsmanager:us-east-1:000000000000:secret:wacrm/functest/stripe-AbCdEf"
	tokenPrefix      = "wacrm/functest/tokens/"
	bucket           = "wacrm-functest"

	// nowhere is where SDK calls to a service the test does not serve go:
	// a closed port, so a function can never reach AWS from here.
	nowhere = "http://127.0.0.1:1"
)

// function is a Lambda function under functions/, with the variables the
// CDK stack sets on it (infra/functions.go, addFunctions) and those whose
// absence must fail its init.
type function struct {
	name     string
	env      []string
	required []string
}

var functions = []function{
	{
		name:     "webhook",
		env:      []string{awsapp.EnvBucket, awsapp.EnvInboundQueue, awsapp.EnvWebhookSecret},
		required: []string{awsapp.EnvBucket, awsapp.EnvInboundQueue, awsapp.EnvWebhookSecret},
	},
	{
		name:     "inbound",
		env:      []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvMediaQueue},
		required: []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvMediaQueue},
	},
	{
		name:     "api",
		env:      []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix, awsapp.EnvOrgClaim, awsapp.EnvGroupsClaim, awsapp.EnvGraphBaseURL, awsapp.EnvStripeSecret},
		required: []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvOutboundQueue, awsapp.EnvTokenPrefix, awsapp.EnvStripeSecret},
	},
	{
		name:     "send",
		env:      []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvTokenPrefix, awsapp.EnvGraphBaseURL, awsapp.EnvOutboundQueue},
		required: []string{awsapp.EnvTable, awsapp.EnvTokenPrefix, awsapp.EnvOutboundQueue},
	},
	{
		name:     "media",
		env:      []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvTokenPrefix, awsapp.EnvGraphBaseURL, awsapp.EnvMediaQueue},
		required: []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvTokenPrefix, awsapp.EnvMediaQueue},
	},
	{
		name:     "schedule",
		env:      append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...),
		required: append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...),
	},
	{
		name:     "notify",
		env:      append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...),
		required: append([]string{awsapp.EnvTable}, awsapp.ScheduleEnv...),
	},
	{
		name:     "push",
		env:      []string{awsapp.EnvTable, awsapp.EnvWebSocketEndpoint},
		required: []string{awsapp.EnvTable, awsapp.EnvWebSocketEndpoint},
	},
	{
		name:     "ws",
		env:      []string{awsapp.EnvTable, awsapp.EnvJWTIssuer, awsapp.EnvJWTAudience, awsapp.EnvOrgClaim, awsapp.EnvGroupsClaim},
		required: []string{awsapp.EnvTable, awsapp.EnvJWTIssuer, awsapp.EnvJWTAudience},
	},
	{
		name:     "recharge",
		env:      []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvStripeSecret},
		required: []string{awsapp.EnvBucket, awsapp.EnvTable, awsapp.EnvStripeSecret},
	},
}

const baseline = "hello"

// built holds the host bootstraps, built once per test binary.
var built struct {
	once  sync.Once
	dir   string
	paths map[string]string // function name (or hello) -> bootstrap
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// bootstraps builds hello and every function for the host with the deploy
// flags, in parallel; go's build cache makes this a link per binary when
// warm.
func bootstraps(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every Lambda function; skipped in -short mode")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "functest-")
		if built.err != nil {
			return
		}
		pkgs := map[string]string{baseline: modulePath + "/scripts/hello"}
		for _, f := range functions {
			pkgs[f.name] = modulePath + "/functions/" + f.name
		}
		built.paths = map[string]string{}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for name, pkg := range pkgs {
			wg.Go(func() {
				path, err := lambdaharness.BuildHost(context.Background(), pkg, filepath.Join(built.dir, name))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				built.paths[name] = path
			})
		}
		wg.Wait()
		built.err = errors.Join(errs...)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.paths
}

func functionNames() []string {
	var names []string
	for _, f := range functions {
		names = append(names, f.name)
	}
	return names
}

// sdkEnv points the AWS SDK's default configuration at the given
// endpoints (service -> URL, by AWS_ENDPOINT_URL_<SERVICE>) and everything
// else at nowhere.
func sdkEnv(endpoints map[string]string) []string {
	env := []string{
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + nowhere,
	}
	for service, u := range endpoints {
		env = append(env, "AWS_ENDPOINT_URL_"+service+"="+u)
	}
	slices.Sort(env)
	return env
}

// functionEnv is the environment the stack gives fn, with values from vars.
func functionEnv(t *testing.T, fn string, vars map[string]string) []string {
	t.Helper()
	for _, f := range functions {
		if f.name != fn {
			continue
		}
		var env []string
		for _, name := range f.env {
			v, ok := vars[name]
			if !ok {
				t.Fatalf("no value for %s of %s", name, fn)
			}
			env = append(env, name+"="+v)
		}
		return env
	}
	t.Fatalf("unknown function %s", fn)
	return nil
}

// TestMissingConfiguration runs every function without each variable it
// requires, one at a time: init must fail, naming the variable. It needs no
// servers: a main checks its environment before it builds a client.
func TestMissingConfiguration(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(rootDir, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !slices.ContainsFunc(functions, func(f function) bool { return f.name == e.Name() }) {
			t.Errorf("functions/%s is not covered: add it, with its stack environment, to functest's functions", e.Name())
		}
	}

	bins := bootstraps(t)
	vars := map[string]string{}
	for _, f := range functions {
		for _, name := range f.env {
			vars[name] = "set-" + strings.ToLower(name)
		}
	}
	for _, f := range functions {
		for _, missing := range f.required {
			t.Run(f.name+" without "+missing, func(t *testing.T) {
				t.Parallel()
				var env []string
				for _, kv := range functionEnv(t, f.name, vars) {
					if !strings.HasPrefix(kv, missing+"=") {
						env = append(env, kv)
					}
				}
				fn := &lambdaharness.Function{
					Bootstrap: bins[f.name], Name: f.name,
					Env:         append(sdkEnv(nil), env...),
					InitTimeout: 5 * time.Second,
				}
				res, err := fn.Run(context.Background(), [][]byte{[]byte(`{}`)})
				var initErr *lambdaharness.InitError
				if !errors.As(err, &initErr) {
					t.Fatalf("run without %s: result %+v, err %v; want an init error", missing, res, err)
				}
				if initErr.Err.Type != "Runtime.ExitError" || initErr.ExitCode != 1 {
					t.Errorf("init error %v (exit code %d), want Runtime.ExitError with exit code 1", initErr.Err, initErr.ExitCode)
				}
				if !strings.Contains(initErr.Error(), missing) {
					t.Errorf("init error does not name %s:\n%v", missing, initErr)
				}
			})
		}
	}
}

// stack is the test's AWS on loopback, the seeded org and the figures.
type stack struct {
	ctx     context.Context
	bins    map[string]string
	store   *storage.Store
	sqs     *awssqs.Client
	queues  map[string]queueRef // "inbound", "outbound", "media", "schedule"
	s3      *fakeS3
	secrets *fakeSecrets
	graph   *fakeGraph
	vars    map[string]string // WACRM_* values
	sdk     []string          // AWS SDK configuration
	figs    figures
}

type queueRef struct{ url, arn string }

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	ddb := dynamotest.Client(t)
	sqsc := sqstest.Client(t)
	s := &stack{ctx: ctx, bins: bootstraps(t), sqs: sqsc, queues: map[string]queueRef{}}

	tableName := fmt.Sprintf("wacrm-functest-%08x", rand.Uint32())
	if err := dynamo.CreateTable(ctx, ddb, tableName); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(tableName)})
	})
	s.store = storage.New(dynamo.New(ddb, tableName))

	suffix := fmt.Sprintf("%08x", rand.Uint32())
	for _, name := range []string{"inbound", "outbound", "media", "schedule"} {
		url, dlq, err := sqs.CreateQueueWithDLQ(ctx, sqsc, "functest-"+name+"-"+suffix, 3, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = sqsc.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)})
			_, _ = sqsc.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(dlq)})
		})
		attrs, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.queues[name] = queueRef{url: url, arn: attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	}

	s.s3 = newFakeS3(t, bucket)
	var secretsURL, graphURL string
	s.secrets, secretsURL = newFakeSecrets(t, region, map[string]string{
		webhookSecretARN:            fmt.Sprintf(`{"appSecret":%q,"verifyToken":%q}`, appSecret, verifyToken),
		tokenPrefix + integrationID: accessToken,
		stripeSecretARN:             `{"secretKey":"sk_test_functest","webhookSecret":"whsec_functest"}`,
	})
	s.graph, graphURL = newFakeGraph(t, accessToken)
	s.graph.owned.token, s.graph.owned.wabaID, s.graph.owned.phoneNumberID = secondAccessToken, secondWABAID, secondPhoneNumberID

	s.sdk = sdkEnv(map[string]string{
		"DYNAMODB":        os.Getenv("WACRM_TEST_DYNAMODB_ENDPOINT"),
		"SQS":             os.Getenv("WACRM_TEST_SQS_ENDPOINT"),
		"S3":              s.s3.url,
		"SECRETS_MANAGER": secretsURL,
	})
	s.vars = map[string]string{
		awsapp.EnvTable:         tableName,
		awsapp.EnvBucket:        bucket,
		awsapp.EnvInboundQueue:  s.queues["inbound"].url,
		awsapp.EnvOutboundQueue: s.queues["outbound"].url,
		awsapp.EnvMediaQueue:    s.queues["media"].url,
		awsapp.EnvWebhookSecret: webhookSecretARN,
		awsapp.EnvTokenPrefix:   tokenPrefix,
		awsapp.EnvGraphBaseURL:  graphURL,
		awsapp.EnvOrgClaim:      "custom:org",
		awsapp.EnvGroupsClaim:   "cognito:groups",
		awsapp.EnvStripeSecret:  stripeSecretARN,
		// EventBridge Scheduler is not called here (nothing sets a schedule);
		// its adapter has its own tests against the exact SDK requests.
		awsapp.EnvScheduleGroup:    "wacrm-functest",
		awsapp.EnvScheduleQueue:    s.queues["schedule"].url,
		awsapp.EnvScheduleQueueARN: s.queues["schedule"].arn,
		awsapp.EnvSchedulerRole:    "arn:aws:iam::123456789012:role/functest-scheduler",
		awsapp.EnvScheduleDLQ:      "arn:aws:sqs:us-east-1:123456789012:functest-schedule-dlq",
		// Live push: the management API and the token issuer are not
		// called here (no socket is open); wsapi and auth test them.
		awsapp.EnvWebSocketEndpoint: nowhere,
		awsapp.EnvJWTIssuer:         nowhere,
		awsapp.EnvJWTAudience:       "functest",
	}

	now := time.Now().UTC()
	err := s.store.CreateIntegration(ctx, &integration.Integration{
		ID: integrationID, Org: org, Nickname: "Functest", PhoneNumberID: phoneNumberID, WABAID: "102290129340398",
		DisplayPhone: "+1 555-078-3881", TokenRef: integration.TokenRef(integrationID),
		Preferences: integration.Preferences{
			UnknownSenders: records.Leads,
			Assign:         integration.Assignment{Kind: integration.AssignUser, IDs: []string{userID}},
		},
		Active: true, CreatedBy: userID, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		t.Fatalf("seed integration: %v", err)
	}
	storagetest.Fund(t, s.store, org, 10_000_000) // replies are paid for
	s.figs.inits = map[string][]time.Duration{}
	return s
}

// invoke runs fn's bootstrap, with the stack's environment for fn, over
// events. Any init failure or function error fails the test.
func (s *stack) invoke(t *testing.T, fn string, events [][]byte) []lambdaharness.Invocation {
	t.Helper()
	var env []string
	if fn != baseline {
		env = append(slices.Clone(s.sdk), functionEnv(t, fn, s.vars)...)
	}
	f := &lambdaharness.Function{Bootstrap: s.bins[fn], Name: fn, Env: env}
	res, err := f.Run(s.ctx, events)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	if res.Restarts > 0 {
		t.Errorf("%s: %d cold restarts after crashes or timeouts", fn, res.Restarts)
	}
	for i, inv := range res.Invocations {
		if inv.Err != nil {
			t.Fatalf("%s: event %d: %v\nlast output:\n%s", fn, i, inv.Err, tail(res.Output, 10))
		}
	}
	s.figs.inits[fn] = append(s.figs.inits[fn], res.Init)
	return res.Invocations
}

// measure is invoke that records the latencies under label, and runs hello
// on the same events for the baseline column.
func (s *stack) measure(t *testing.T, label, fn string, events [][]byte) []lambdaharness.Invocation {
	t.Helper()
	r := &row{label: label, fn: fn}
	invs := s.invoke(t, fn, events)
	for _, inv := range invs {
		r.latencies = append(r.latencies, inv.Latency)
	}
	if fn != baseline {
		for _, inv := range s.invoke(t, baseline, events) {
			r.hello = append(r.hello, inv.Latency)
		}
	}
	s.figs.rows = append(s.figs.rows, r)
	return invs
}

// TestFunctions runs a customer's message through every function as the
// deployed stack would, then measures each on its kind of event.
func TestFunctions(t *testing.T) {
	s := newStack(t)
	n := *invokes
	if n < 1 {
		t.Fatalf("-invokes %d: want at least 1", n)
	}
	post := loadAPIGW(t, "webhook_post.json")
	checkTemplateSignature(t, post)
	now := time.Now()

	s.measure(t, "hello: events/apigw/hello.json", baseline, repeat(readEvent(t, "apigw/hello.json"), n))

	// webhook: the handshake, a refused one, a signed message, a forged
	// one, and one too large for SQS (through S3: claim check).
	handshake := readEvent(t, "apigw/webhook_handshake.json")
	textBody := webhookBody(t, post, "wamid.functest.text", now)
	largeBody := padJSON(webhookBody(t, post, "wamid.functest.large", now), 300<<10)
	webhookCases := []struct {
		name       string
		event      []byte
		wantStatus int
		wantBody   string
	}{
		{"handshake", handshake, http.StatusOK, "1158201444"},
		{"handshake with a wrong verify token", wrongVerifyToken(t, handshake), http.StatusForbidden, ""},
		{"signed message", postEvent(t, post, textBody, whatsapp.Sign([]byte(appSecret), textBody)), http.StatusOK, ""},
		{"bad signature", postEvent(t, post, textBody, whatsapp.Sign([]byte("not-the-app-secret"), textBody)), http.StatusUnauthorized, ""},
		{"large signed message", postEvent(t, post, largeBody, whatsapp.Sign([]byte(appSecret), largeBody)), http.StatusOK, ""},
	}
	var webhookEvents [][]byte
	for _, c := range webhookCases {
		webhookEvents = append(webhookEvents, c.event)
	}
	for i, inv := range s.invoke(t, "webhook", webhookEvents) {
		c := webhookCases[i]
		resp := httpResponse(t, inv)
		if resp.StatusCode != c.wantStatus || (c.wantBody != "" && resp.Body != c.wantBody) {
			t.Errorf("webhook %s: %d %q, want %d %q", c.name, resp.StatusCode, resp.Body, c.wantStatus, c.wantBody)
		}
	}
	if got := s.secrets.count("GetSecretValue", webhookSecretARN); got != 1 {
		t.Errorf("webhook init read its secret %d times, want once", got)
	}

	// The inbound queue holds the signed message as posted, and a pointer
	// to the large one in S3; the forged one is not there.
	enqueued := s.receive(t, "inbound", 2)
	var claimKey string
	for _, m := range enqueued {
		key, claimed := m.MessageAttributes[queue.ClaimCheckAttribute]
		switch {
		case claimed:
			claimKey = aws.ToString(key.StringValue)
			if got := s.s3.get(t, bucket, claimKey); !bytes.Equal(got, largeBody) {
				t.Errorf("claim-checked body in S3 at %s: %d bytes, want the %d posted", claimKey, len(got), len(largeBody))
			}
		case aws.ToString(m.Body) != string(textBody):
			t.Errorf("inbound queue body:\n%s\nwant the raw bytes posted:\n%s", aws.ToString(m.Body), textBody)
		}
	}
	if claimKey == "" {
		t.Error("the large message was not claim-checked through S3")
	}
	s.checkPathStyle(t)

	// inbound: both become messages of one conversation, owned by the
	// integration's assignee.
	resp := sqsResponse(t, s.invoke(t, "inbound", [][]byte{s.sqsEvent("inbound", enqueued...)})[0])
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("inbound batch failures %+v, want none", resp.BatchItemFailures)
	}
	s.delete(t, "inbound", enqueued...)
	conv := s.onlyConversation(t)
	if conv.Customer.WaID != customerWAID || conv.OwnerID != userID || conv.IntegrationID != integrationID || conv.UnansweredSince == nil {
		t.Errorf("conversation %+v: want customer %s, owner %s, integration %s, unanswered", conv, customerWAID, userID, integrationID)
	}
	s.wantMessages(t, conv.ID, "wamid.functest.text", "wamid.functest.large")

	// api: the committed list event finds it; without authorizer claims
	// the API refuses.
	list := readEvent(t, "apigw/api_list_conversations.json")
	checkListEvent(t, list)
	invs := s.invoke(t, "api", [][]byte{list, withoutClaims(t, list)})
	wantListed(t, invs[0], conv.ID)
	if got := httpResponse(t, invs[1]).StatusCode; got != http.StatusUnauthorized {
		t.Errorf("api without authorizer claims: %d, want 401", got)
	}

	// An admin connects a second number: the api keeps its access token
	// in Secrets Manager under the stack's prefix.
	created := httpResponse(t, s.invoke(t, "api", [][]byte{createIntegrationEvent(t, list)})[0])
	var integ struct {
		ID string `json:"id"`
	}
	if created.StatusCode != http.StatusCreated || json.Unmarshal([]byte(created.Body), &integ) != nil || integ.ID == "" {
		t.Errorf("api POST /v1/integrations: %d %s, want 201 and the integration", created.StatusCode, created.Body)
	} else if token, ok := s.secrets.value(tokenPrefix + integ.ID); !ok || token != secondAccessToken {
		t.Errorf("access token of %s in Secrets Manager at %s%s: %q (exists %v), want the one posted", integ.ID, tokenPrefix, integ.ID, token, ok)
	}

	// Latency, each function on its kind of event, n times.
	for i, inv := range s.measure(t, "webhook: GET /webhook handshake", "webhook", repeat(handshake, n)) {
		if r := httpResponse(t, inv); r.StatusCode != http.StatusOK {
			t.Fatalf("handshake %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	var posts [][]byte
	for i := range n {
		body := webhookBody(t, post, fmt.Sprintf("wamid.functest.%03d", i), time.Now())
		posts = append(posts, postEvent(t, post, body, whatsapp.Sign([]byte(appSecret), body)))
	}
	for i, inv := range s.measure(t, "webhook: POST /webhook signed (600 B) -> SQS", "webhook", posts) {
		if r := httpResponse(t, inv); r.StatusCode != http.StatusOK {
			t.Fatalf("post %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	var batches [][]byte
	received := s.receive(t, "inbound", n)
	for _, m := range received {
		batches = append(batches, s.sqsEvent("inbound", m))
	}
	for i, inv := range s.measure(t, "inbound: 1 new text message -> table", "inbound", batches) {
		if r := sqsResponse(t, inv); len(r.BatchItemFailures) != 0 {
			t.Fatalf("inbound %d: batch failures %+v", i, r.BatchItemFailures)
		}
	}
	s.delete(t, "inbound", received...)
	if msgs := s.messages(t, conv.ID); len(msgs) != 2+n {
		t.Errorf("conversation holds %d messages, want %d", len(msgs), 2+n)
	}
	for _, inv := range s.measure(t, "api: GET /v1/conversations?unanswered=3d&owner=me", "api", repeat(list, n)) {
		wantListed(t, inv, conv.ID)
	}

	// Replies: api stores and enqueues them, send delivers them through the
	// Graph API with the integration's token from Secrets Manager.
	var replies [][]byte
	for i := range n {
		replies = append(replies, replyEvent(t, list, conv.ID, fmt.Sprintf("Functest reply %03d", i), fmt.Sprintf("functest-%03d", i)))
	}
	for i, inv := range s.measure(t, "api: POST /v1/conversations/{id}/messages -> SQS", "api", replies) {
		if r := httpResponse(t, inv); r.StatusCode != http.StatusAccepted {
			t.Fatalf("reply %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	jobs := s.receive(t, "outbound", n)
	var jobEvents [][]byte
	for _, m := range jobs {
		jobEvents = append(jobEvents, s.sqsEvent("outbound", m))
	}
	for i, inv := range s.measure(t, "send: 1 job -> Graph API -> table", "send", jobEvents) {
		if r := sqsResponse(t, inv); len(r.BatchItemFailures) != 0 {
			t.Fatalf("send %d: batch failures %+v", i, r.BatchItemFailures)
		}
	}
	s.delete(t, "outbound", jobs...)
	s.checkSent(t, conv.ID, n)

	// Media: a customer's image goes webhook -> inbound, which enqueues a
	// media job; media copies the file from the Graph API, with the
	// integration's token, to S3 at media/<org>/<conversationId>/<messageId>.
	img := jpegFile(t)
	var imagePosts [][]byte
	mediaIDs := map[string]string{} // wamid -> media id
	for i := range n {
		wamid, mediaID := fmt.Sprintf("wamid.functest.image.%03d", i), fmt.Sprintf("2000000000%06d", i)
		s.graph.addMedia(mediaID, "image/jpeg", img)
		body := imageBody(t, wamid, mediaID, s.graph.url+downloadPath+mediaID, img, time.Now())
		imagePosts = append(imagePosts, postEvent(t, post, body, whatsapp.Sign([]byte(appSecret), body)))
		mediaIDs[wamid] = mediaID
	}
	for i, inv := range s.invoke(t, "webhook", imagePosts) {
		if r := httpResponse(t, inv); r.StatusCode != http.StatusOK {
			t.Fatalf("image post %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	received = s.receive(t, "inbound", n)
	batches = nil
	for _, m := range received {
		batches = append(batches, s.sqsEvent("inbound", m))
	}
	for i, inv := range s.invoke(t, "inbound", batches) {
		if r := sqsResponse(t, inv); len(r.BatchItemFailures) != 0 {
			t.Fatalf("inbound image %d: batch failures %+v", i, r.BatchItemFailures)
		}
	}
	s.delete(t, "inbound", received...)
	mediaJobs := s.receive(t, "media", n)
	var mediaEvents [][]byte
	for _, m := range mediaJobs {
		mediaEvents = append(mediaEvents, s.sqsEvent("media", m))
	}
	label := fmt.Sprintf("media: 1 image job (%d B) -> Graph API -> S3", len(img))
	for i, inv := range s.measure(t, label, "media", mediaEvents) {
		if r := sqsResponse(t, inv); len(r.BatchItemFailures) != 0 {
			t.Fatalf("media %d: batch failures %+v", i, r.BatchItemFailures)
		}
	}
	s.delete(t, "media", mediaJobs...)
	for wamid, mediaID := range mediaIDs {
		key := "media/" + org + "/" + conv.ID + "/" + wamid
		if got, ok := s.s3.lookup(bucket, key); !ok || !bytes.Equal(got, img) {
			t.Errorf("S3 %s: %d bytes (exists %v), want the %d-byte image of media %s", key, len(got), ok, len(img), mediaID)
		}
		if got := s.graph.downloaded(mediaID); got != 1 {
			t.Errorf("media %s downloaded %d times, want once", mediaID, got)
		}
	}
	s.checkPathStyle(t)

	// events/sqs/inbound-batch.json: a message, a claim-checked one (its
	// blob put where the pointer says) and a body that is not a webhook,
	// dropped rather than retried.
	batch := readEvent(t, "sqs/inbound-batch.json")
	pointed := compactEvent(t, "whatsapp/message_text_reply.json")
	s.s3.put(t, bucket, claimKeyOf(t, batch), pointed)
	resp = sqsResponse(t, s.invoke(t, "inbound", [][]byte{batch})[0])
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("inbound on events/sqs/inbound-batch.json: batch failures %+v, want none", resp.BatchItemFailures)
	}
	for _, wamid := range []string{firstWAMID(t, []byte(firstBody(t, batch))), firstWAMID(t, pointed)} {
		if seen, err := s.store.SeenMessage(s.ctx, org, wamid); err != nil || !seen {
			t.Errorf("message %s from events/sqs/inbound-batch.json stored: %v (err %v), want true", wamid, seen, err)
		}
	}

	// schedule: a firing no handler claims fails (the queue retries it and
	// keeps it in the DLQ), never dropped.
	unclaimed := bytes.ReplaceAll(readEvent(t, "sqs/schedule-batch.json"), []byte("notify.remind"), []byte("functest.unclaimed"))
	if resp := sqsResponse(t, s.invoke(t, "schedule", [][]byte{unclaimed})[0]); len(resp.BatchItemFailures) != 1 {
		t.Errorf("schedule on a firing of a kind no handler claims: failures %+v, want its one message", resp.BatchItemFailures)
	}

	// ws: a $disconnect of a socket never stored is fine; push: the sample
	// stream batch reaches no socket and fails nothing.
	if r := httpResponse(t, s.invoke(t, "ws", [][]byte{readEvent(t, "apigw/websocket_disconnect.json")})[0]); r.StatusCode != http.StatusOK {
		t.Errorf("ws on events/apigw/websocket_disconnect.json: %d", r.StatusCode)
	}
	var streamResp struct {
		BatchItemFailures []any `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(s.invoke(t, "push", [][]byte{readEvent(t, "dynamodb/stream_changes.json")})[0].Response, &streamResp); err != nil || len(streamResp.BatchItemFailures) != 0 {
		t.Errorf("push on events/dynamodb/stream_changes.json: %+v %v", streamResp, err)
	}
	// recharge: the sample batch holds no account or failed reply; nothing fails.
	streamResp.BatchItemFailures = nil
	if err := json.Unmarshal(s.invoke(t, "recharge", [][]byte{readEvent(t, "dynamodb/stream_changes.json")})[0].Response, &streamResp); err != nil || len(streamResp.BatchItemFailures) != 0 {
		t.Errorf("recharge on events/dynamodb/stream_changes.json: %+v %v", streamResp, err)
	}

	for range *colds {
		for _, fn := range append([]string{baseline}, functionNames()...) {
			s.invoke(t, fn, nil)
		}
	}

	if got := s.secrets.count("GetSecretValue", tokenPrefix+integrationID); got < 1 {
		t.Errorf("send never read the access token %s%s from Secrets Manager", tokenPrefix, integrationID)
	}
	t.Logf("Lambda functions under the Runtime API harness (host %s, built with %s):\n%s",
		lambdaharness.Host(), strings.Join(lambdaharness.BuildFlags, " "), s.figs.table(s.bins))
}

// receive takes exactly want messages from the named queue, and fails if
// more are there.
func (s *stack) receive(t *testing.T, queueName string, want int) []sqstypes.Message {
	t.Helper()
	q := s.queues[queueName]
	var got []sqstypes.Message
	deadline := time.Now().Add(10 * time.Second)
	for {
		wait := int32(1)
		if len(got) >= want {
			wait = 0 // only to see that nothing more is there
		}
		out, err := s.sqs.ReceiveMessage(s.ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive from %s queue: %v", queueName, err)
		}
		got = append(got, out.Messages...)
		if len(got) > want || (len(got) == want && len(out.Messages) == 0) {
			break
		}
		if len(got) < want && time.Now().After(deadline) {
			break
		}
	}
	if len(got) != want {
		t.Fatalf("%s queue held %d messages, want %d", queueName, len(got), want)
	}
	return got
}

// delete removes handled messages, as the event source mapping does after
// a batch without failures.
func (s *stack) delete(t *testing.T, queueName string, msgs ...sqstypes.Message) {
	t.Helper()
	for _, m := range msgs {
		_, err := s.sqs.DeleteMessage(s.ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(s.queues[queueName].url), ReceiptHandle: m.ReceiptHandle})
		if err != nil {
			t.Fatalf("delete from %s queue: %v", queueName, err)
		}
	}
}

// sqsEvent is the event Lambda's SQS event source mapping delivers for msgs.
func (s *stack) sqsEvent(queueName string, msgs ...sqstypes.Message) []byte {
	var ev events.SQSEvent
	for _, m := range msgs {
		rec := events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             m.Attributes,
			MessageAttributes:      map[string]events.SQSMessageAttribute{},
			EventSource:            "aws:sqs", EventSourceARN: s.queues[queueName].arn, AWSRegion: region,
		}
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{
				StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType),
				StringListValues: []string{}, BinaryListValues: [][]byte{},
			}
		}
		ev.Records = append(ev.Records, rec)
	}
	b, _ := json.Marshal(ev) // strings, maps and byte slices always encode
	return b
}

// checkPathStyle checks the functions addressed the bucket in the path: the
// SDK has no environment variable for path-style addressing, but its S3
// endpoint rules use it for an endpoint that is an IP address.
func (s *stack) checkPathStyle(t *testing.T) {
	t.Helper()
	host := strings.TrimPrefix(s.s3.url, "http://")
	log := s.s3.log()
	if len(log) == 0 {
		t.Error("no request reached the S3 endpoint")
	}
	for _, r := range log {
		if !strings.Contains(r, " "+host+" /"+bucket+"/") {
			t.Errorf("S3 request %q is not path-style on %s", r, host)
		}
	}
}

func (s *stack) onlyConversation(t *testing.T) inbox.Conversation {
	t.Helper()
	convs, _, err := s.store.Conversations(s.ctx, org, inbox.Filter{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 1 {
		t.Fatalf("org %s has %d conversations, want 1: %+v", org, len(convs), convs)
	}
	return convs[0]
}

func (s *stack) messages(t *testing.T, conversationID string) []inbox.Message {
	t.Helper()
	var all []inbox.Message
	cursor := ""
	for {
		page, next, err := s.store.Messages(s.ctx, org, conversationID, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func (s *stack) wantMessages(t *testing.T, conversationID string, wamids ...string) {
	t.Helper()
	msgs := s.messages(t, conversationID)
	for _, w := range wamids {
		if !slices.ContainsFunc(msgs, func(m inbox.Message) bool { return m.ID == w && m.Direction == inbox.Inbound }) {
			t.Errorf("conversation %s lacks inbound message %s", conversationID, w)
		}
	}
}

// checkSent checks send delivered n replies to the customer from the
// integration's number and recorded each one's wamid.
func (s *stack) checkSent(t *testing.T, conversationID string, n int) {
	t.Helper()
	sends := s.graph.received()
	if len(sends) != n {
		t.Errorf("Graph API got %d sends, want %d", len(sends), n)
	}
	for _, g := range sends {
		if g.PhoneNumberID != phoneNumberID || g.To != customerWAID || g.Type != "text" || !strings.HasPrefix(g.Text, "Functest reply ") {
			t.Errorf("Graph API send %+v: want a text to %s from %s", g, customerWAID, phoneNumberID)
		}
	}
	sent := 0
	for _, m := range s.messages(t, conversationID) {
		if m.Direction != inbox.Outbound {
			continue
		}
		if m.Status != inbox.StatusSent || !strings.HasPrefix(m.WAMID, "wamid.sent.") {
			t.Errorf("reply %s: status %s, wamid %q; want sent with the Graph API's wamid", m.ID, m.Status, m.WAMID)
			continue
		}
		sent++
	}
	if sent != n {
		t.Errorf("%d replies recorded sent, want %d", sent, n)
	}
}

func wamidSent(n int) string { return fmt.Sprintf("wamid.sent.%04d", n) }

// Events.

func readEvent(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootDir, "events", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadAPIGW(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(readEvent(t, "apigw/"+name), &ev); err != nil {
		t.Fatalf("events/apigw/%s: %v", name, err)
	}
	return ev
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func repeat(event []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = event
	}
	return out
}

// compactEvent is a sample body as Meta posts it: compact, with its
// escapes (\u00e9) kept as they are.
func compactEvent(t *testing.T, rel string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, readEvent(t, rel)); err != nil {
		t.Fatalf("events/%s: %v", rel, err)
	}
	return b.Bytes()
}

// checkTemplateSignature keeps events/apigw/webhook_post.json a valid
// event on its own: its signature matches its body under appSecret.
func checkTemplateSignature(t *testing.T, post events.APIGatewayV2HTTPRequest) {
	t.Helper()
	if err := whatsapp.VerifySignature([]byte(appSecret), []byte(post.Body), post.Headers["x-hub-signature-256"]); err != nil {
		t.Errorf("events/apigw/webhook_post.json: signature with app secret %q: %v", appSecret, err)
	}
	if want := compactEvent(t, "whatsapp/message_text.json"); post.Body != string(want) {
		t.Errorf("events/apigw/webhook_post.json: body is not events/whatsapp/message_text.json as Meta posts it")
	}
}

// webhookBody is the template's body sent at now with message id wamid:
// the customer service window is open and the conversation counts as
// unanswered within the last three days. The rest stays byte for byte.
func webhookBody(t *testing.T, post events.APIGatewayV2HTTPRequest, wamid string, now time.Time) []byte {
	t.Helper()
	body := []byte(post.Body)
	n, err := whatsapp.Parse(body)
	if err != nil || len(n.Entry) == 0 || len(n.Entry[0].Changes) == 0 || len(n.Entry[0].Changes[0].Value.Messages) != 1 {
		t.Fatalf("events/apigw/webhook_post.json: want a body with one message (err %v)", err)
	}
	m := n.Entry[0].Changes[0].Value.Messages[0]
	body = replaceOnce(t, body, `"id":"`+m.ID+`"`, `"id":"`+wamid+`"`)
	return replaceOnce(t, body, `"timestamp":"`+m.Timestamp+`"`, `"timestamp":"`+strconv.FormatInt(now.Unix(), 10)+`"`)
}

func replaceOnce(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if bytes.Count(b, []byte(old)) != 1 {
		t.Fatalf("%s is not in the body exactly once", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// padJSON makes a body of at least size bytes that means the same: JSON
// allows any whitespace between tokens.
func padJSON(body []byte, size int) []byte {
	pad := bytes.Repeat([]byte(" "), max(size-len(body), 0))
	return slices.Concat(body[:1], pad, body[1:])
}

func postEvent(t *testing.T, post events.APIGatewayV2HTTPRequest, body []byte, signature string) []byte {
	t.Helper()
	headers := make(map[string]string, len(post.Headers))
	for k, v := range post.Headers {
		headers[k] = v
	}
	headers["content-length"] = strconv.Itoa(len(body))
	headers["x-hub-signature-256"] = signature
	post.Headers, post.Body = headers, string(body)
	return encode(t, post)
}

func wrongVerifyToken(t *testing.T, handshake []byte) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(handshake, &ev); err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil || q.Get("hub.verify_token") != verifyToken {
		t.Fatalf("events/apigw/webhook_handshake.json: want hub.verify_token=%s in %q", verifyToken, ev.RawQueryString)
	}
	q.Set("hub.verify_token", "not-"+verifyToken)
	ev.RawQueryString = q.Encode()
	ev.QueryStringParameters = map[string]string{}
	for k := range q {
		ev.QueryStringParameters[k] = q.Get(k)
	}
	return encode(t, ev)
}

// imageBody is events/whatsapp/message_image.json as Meta posts it, sent at
// now with message id wamid, naming file under mediaID, with its download
// URL and checksum. The rest stays byte for byte.
func imageBody(t *testing.T, wamid, mediaID, downloadURL string, file []byte, now time.Time) []byte {
	t.Helper()
	body := compactEvent(t, "whatsapp/message_image.json")
	n, err := whatsapp.Parse(body)
	if err != nil || len(n.Entry) == 0 || len(n.Entry[0].Changes) == 0 || len(n.Entry[0].Changes[0].Value.Messages) != 1 ||
		n.Entry[0].Changes[0].Value.Messages[0].Image == nil {
		t.Fatalf("events/whatsapp/message_image.json: want a body with one image message (err %v)", err)
	}
	m := n.Entry[0].Changes[0].Value.Messages[0]
	sum := sha256.Sum256(file)
	body = replaceOnce(t, body, `"id":"`+m.ID+`"`, `"id":"`+wamid+`"`)
	body = replaceOnce(t, body, `"timestamp":"`+m.Timestamp+`"`, `"timestamp":"`+strconv.FormatInt(now.Unix(), 10)+`"`)
	body = replaceOnce(t, body, `"id":"`+m.Image.ID+`"`, `"id":"`+mediaID+`"`)
	body = replaceOnce(t, body, `"sha256":"`+m.Image.SHA256+`"`, `"sha256":"`+hex.EncodeToString(sum[:])+`"`)
	// Meta escapes "/" in the URL; the sample keeps its escapes.
	escaped := strings.ReplaceAll(m.Image.URL, "/", `\/`)
	return replaceOnce(t, body, `"url":"`+escaped+`"`, `"url":"`+downloadURL+`"`)
}

// jpegFile is a small real JPEG, what a customer's photo is.
func jpegFile(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 5), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkListEvent checks the committed event is the seeded org's user's.
func checkListEvent(t *testing.T, list []byte) {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(list, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.JWT == nil {
		t.Fatal("events/apigw/api_list_conversations.json has no JWT authorizer claims")
	}
	claims := ev.RequestContext.Authorizer.JWT.Claims
	if claims["custom:org"] != org || claims["sub"] != userID {
		t.Fatalf("events/apigw/api_list_conversations.json: claims %v, want custom:org %s and sub %s (the seeded org and owner)", claims, org, userID)
	}
}

func withoutClaims(t *testing.T, event []byte) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	ev.RequestContext.Authorizer = nil
	return encode(t, ev)
}

// replyEvent is the list event's user replying text in the conversation.
func replyEvent(t *testing.T, list []byte, conversationID, text, idempotencyKey string) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(list, &ev); err != nil {
		t.Fatal(err)
	}
	body := encode(t, map[string]string{"text": text})
	path := "/v1/conversations/" + conversationID + "/messages"
	headers := map[string]string{}
	for k, v := range ev.Headers {
		headers[k] = v
	}
	headers["content-type"] = "application/json"
	headers["content-length"] = strconv.Itoa(len(body))
	headers["idempotency-key"] = idempotencyKey
	ev.Headers, ev.Body = headers, string(body)
	ev.RawPath, ev.RawQueryString, ev.QueryStringParameters = path, "", nil
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = http.MethodPost, path
	return encode(t, ev)
}

// createIntegrationEvent is the list event's user, an admin, connecting
// a second phone number.
func createIntegrationEvent(t *testing.T, list []byte) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(list, &ev); err != nil {
		t.Fatal(err)
	}
	body := encode(t, integration.New{
		Nickname: "Second line", PhoneNumberID: secondPhoneNumberID, WABAID: secondWABAID,
		AccessToken: secondAccessToken,
		Preferences: integration.Preferences{
			UnknownSenders: records.Contacts,
			Assign:         integration.Assignment{Kind: integration.AssignUser, IDs: []string{userID}},
		},
	})
	headers := map[string]string{}
	for k, v := range ev.Headers {
		headers[k] = v
	}
	headers["content-type"] = "application/json"
	headers["content-length"] = strconv.Itoa(len(body))
	ev.Headers, ev.Body = headers, string(body)
	ev.RawPath, ev.RawQueryString, ev.QueryStringParameters = "/v1/integrations", "", nil
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = http.MethodPost, "/v1/integrations"
	return encode(t, ev)
}

func httpResponse(t *testing.T, inv lambdaharness.Invocation) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(inv.Response, &r); err != nil {
		t.Fatalf("response %s is not an API Gateway v2 response: %v", inv.Response, err)
	}
	return r
}

func sqsResponse(t *testing.T, inv lambdaharness.Invocation) events.SQSEventResponse {
	t.Helper()
	var r events.SQSEventResponse
	if err := json.Unmarshal(inv.Response, &r); err != nil || r.BatchItemFailures == nil {
		t.Fatalf("response %s is not an SQS batch response (err %v)", inv.Response, err)
	}
	return r
}

func wantListed(t *testing.T, inv lambdaharness.Invocation, conversationID string) {
	t.Helper()
	r := httpResponse(t, inv)
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &page) != nil {
		t.Fatalf("api list: %d %s, want 200 and a page", r.StatusCode, r.Body)
	}
	if len(page.Items) != 1 || page.Items[0].ID != conversationID {
		t.Errorf("api list: %s, want only conversation %s", r.Body, conversationID)
	}
}

func firstBody(t *testing.T, sqsEvent []byte) string {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(sqsEvent, &ev); err != nil || len(ev.Records) == 0 {
		t.Fatalf("not an SQS event with records (err %v)", err)
	}
	return ev.Records[0].Body
}

// claimKeyOf is the blob key the event's claim-checked record points at.
func claimKeyOf(t *testing.T, sqsEvent []byte) string {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(sqsEvent, &ev); err != nil {
		t.Fatal(err)
	}
	for _, r := range ev.Records {
		if a, ok := r.MessageAttributes[queue.ClaimCheckAttribute]; ok && a.StringValue != nil {
			return *a.StringValue
		}
	}
	t.Fatal("events/sqs/inbound-batch.json has no claim-checked record")
	return ""
}

func firstWAMID(t *testing.T, body []byte) string {
	t.Helper()
	n, err := whatsapp.Parse(body)
	if err != nil || len(n.Entry) == 0 || len(n.Entry[0].Changes) == 0 || len(n.Entry[0].Changes[0].Value.Messages) == 0 {
		t.Fatalf("body has no message (err %v): %s", err, body)
	}
	return n.Entry[0].Changes[0].Value.Messages[0].ID
}

func tail(out []byte, lines int) string {
	l := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(l[max(len(l)-lines, 0):], "\n")
}

// Figures.

// row is one line of the figures: a function on one kind of event, and
// hello on the same events.
type row struct {
	label, fn        string
	latencies, hello []time.Duration
}

type figures struct {
	inits map[string][]time.Duration // every cold start, by function
	rows  []*row
}

func (f *figures) table(bins map[string]string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "function\thost binary\tdist/<fn>.zip\tinit p50\tcold starts\t| events\tinvokes\tp50\tp99\t| hello p50\thello p99\t")
	for _, r := range f.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t| %s\t%d\t%s\t%s\t| %s\t%s\t\n",
			r.fn, fileSize(bins[r.fn]), fileSize(filepath.Join(rootDir, "dist", r.fn+".zip")),
			dur(percentile(f.inits[r.fn], 50)), len(f.inits[r.fn]),
			r.label, len(r.latencies), dur(percentile(r.latencies, 50)), dur(percentile(r.latencies, 99)),
			dur(percentile(r.hello, 50)), dur(percentile(r.hello, 99)))
	}
	_ = tw.Flush()
	return b.String()
}

func fileSize(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20))
}

// percentile is the nearest-rank percentile p (0-100) of ds; zero for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.9999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}
