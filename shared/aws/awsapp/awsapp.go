// Package awsapp builds app.Adapters from a Lambda function's environment:
// read once at init, clients built once, missing configuration fails fast
// with every missing variable named.
package awsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	awssecrets "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/s3blob"
	"github.com/wacrm/wacrm/shared/aws/scheduler"
	"github.com/wacrm/wacrm/shared/aws/secretsmanager"
	"github.com/wacrm/wacrm/shared/aws/sqs"
	"github.com/wacrm/wacrm/shared/aws/wsapi"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/payments/stripepay"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Environment variable names, shared with the CDK stack.
const (
	EnvTable         = "WACRM_TABLE"
	EnvBucket        = "WACRM_BUCKET"
	EnvInboundQueue  = "WACRM_INBOUND_QUEUE_URL"
	EnvOutboundQueue = "WACRM_OUTBOUND_QUEUE_URL"
	EnvMediaQueue    = "WACRM_MEDIA_QUEUE_URL"
	EnvWebhookSecret = "WACRM_WEBHOOK_SECRET_ARN"
	EnvTokenPrefix   = "WACRM_TOKEN_SECRET_PREFIX"
	EnvGraphBaseURL  = "WACRM_GRAPH_BASE_URL"
	EnvOrgClaim      = "WACRM_ORG_CLAIM"
	EnvGroupsClaim   = "WACRM_GROUPS_CLAIM"
	EnvRolesClaim    = "WACRM_ROLES_CLAIM"
	EnvMetaAppID     = "WACRM_META_APP_ID" // Meta app id for Embedded Signup; its secret is the webhook secret's appSecret
	EnvStripeSecret  = "WACRM_STRIPE_SECRET_ARN"
	// One-time schedules (EventBridge Scheduler): the stack's group, the
	// schedule queue every schedule targets (URL and ARN), the role the
	// scheduler assumes to send there, and its dead-letter queue.
	EnvScheduleGroup    = "WACRM_SCHEDULE_GROUP"
	EnvScheduleQueue    = "WACRM_SCHEDULE_QUEUE_URL"
	EnvScheduleQueueARN = "WACRM_SCHEDULE_QUEUE_ARN"
	EnvSchedulerRole    = "WACRM_SCHEDULER_ROLE_ARN"
	EnvScheduleDLQ      = "WACRM_SCHEDULE_DLQ_ARN"
	DefaultGraphURL     = "https://graph.facebook.com/v23.0"
	// Live push: the WebSocket API's management endpoint
	// (https://{api}.execute-api.{region}.amazonaws.com/{stage}), and the
	// issuer and audiences (comma-separated) of the tokens sockets open with.
	EnvWebSocketEndpoint = "WACRM_WEBSOCKET_ENDPOINT"
	EnvJWTIssuer         = "WACRM_JWT_ISSUER"
	EnvJWTAudience       = "WACRM_JWT_AUDIENCE"
)

// Env is the function's configuration.
type Env map[string]string

// Require reads the named variables, failing with all missing ones named.
func Require(names ...string) (Env, error) {
	env := Env{}
	var missing []string
	for _, n := range names {
		v := strings.TrimSpace(os.Getenv(n))
		if v == "" {
			missing = append(missing, n)
		}
		env[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing configuration: set %s", strings.Join(missing, ", "))
	}
	return env, nil
}

// Optional adds a variable that may be empty, with a default.
func (e Env) Optional(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		e[name] = v
		return v
	}
	e[name] = def
	return def
}

// ScheduleEnv lists the variables a function that sets schedules needs.
var ScheduleEnv = []string{EnvScheduleGroup, EnvScheduleQueue, EnvScheduleQueueARN, EnvSchedulerRole, EnvScheduleDLQ}

// Clients are the SDK clients, built once from the default credential chain.
type Clients struct {
	Config    aws.Config
	DynamoDB  *dynamodb.Client
	S3        *s3.Client
	SQS       *awssqs.Client
	Secrets   *awssecrets.Client
	Scheduler *awsscheduler.Client
}

// NewClients loads the default AWS configuration.
func NewClients(ctx context.Context) (*Clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &Clients{
		Config: cfg, DynamoDB: dynamodb.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg),
		SQS: awssqs.NewFromConfig(cfg), Secrets: awssecrets.NewFromConfig(cfg),
		Scheduler: awsscheduler.NewFromConfig(cfg),
	}, nil
}

// Adapters builds the adapters the environment configures; others stay nil.
func (c *Clients) Adapters(env Env, log *slog.Logger) app.Adapters {
	a := app.Adapters{Log: log}
	if name := env[EnvTable]; name != "" {
		a.Table = dynamo.New(c.DynamoDB, name)
	}
	if bucket := env[EnvBucket]; bucket != "" {
		a.Blobs = s3blob.New(c.S3, s3.NewPresignClient(c.S3), bucket)
	}
	if url := env[EnvInboundQueue]; url != "" {
		a.Inbound = sqs.NewSender(c.SQS, url)
	}
	if url := env[EnvOutboundQueue]; url != "" {
		a.Outbound = sqs.NewSender(c.SQS, url)
	}
	if url := env[EnvMediaQueue]; url != "" {
		a.Media = sqs.NewSender(c.SQS, url)
	}
	if prefix := env[EnvTokenPrefix]; prefix != "" {
		a.Secrets = secretsmanager.New(c.Secrets, prefix)
	}
	if group := env[EnvScheduleGroup]; group != "" {
		a.Schedules = scheduler.New(c.Scheduler, scheduler.Config{
			Group: group, QueueARN: env[EnvScheduleQueueARN], RoleARN: env[EnvSchedulerRole], DeadLetterARN: env[EnvScheduleDLQ],
		}, sqs.NewSender(c.SQS, env[EnvScheduleQueue]))
	}
	return a
}

// Graph returns the Graph API client at WACRM_GRAPH_BASE_URL (default
// DefaultGraphURL) whose calls, bodies included, end within timeout.
func Graph(env Env, timeout time.Duration) *whatsapp.GraphClient {
	return &whatsapp.GraphClient{
		BaseURL: env.Optional(EnvGraphBaseURL, DefaultGraphURL),
		HTTP:    &http.Client{Timeout: timeout},
	}
}

// WebhookSecret is the secret's JSON: {"appSecret", "previousAppSecret", "verifyToken"}.
type WebhookSecret = httpapi.WebhookSecret

// WebhookSecretTTL is how long the webhook function trusts the secret it
// read: a new app secret is in use at most this long after it is put in.
const WebhookSecretTTL = 2 * time.Minute

// SecretReader is the Secrets Manager call the webhook secret needs.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *awssecrets.GetSecretValueInput, opts ...func(*awssecrets.Options)) (*awssecrets.GetSecretValueOutput, error)
}

// WebhookSecretSource reads the webhook secret from Secrets Manager and
// keeps it for TTL (WebhookSecretTTL when zero). When a refresh fails it
// keeps serving the secret it has and tries again after another TTL.
// It implements httpapi.WebhookSecrets.
type WebhookSecretSource struct {
	Client SecretReader
	ARN    string
	TTL    time.Duration
	Log    *slog.Logger
	Now    func() time.Time

	mu     sync.Mutex
	cached WebhookSecret
	until  time.Time
}

// WebhookSecret returns the cached secret, reading it again once it is older than the TTL.
func (s *WebhookSecretSource) WebhookSecret(ctx context.Context) (WebhookSecret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if now.Before(s.until) {
		return s.cached, nil
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = WebhookSecretTTL
	}
	ws, err := s.load(ctx)
	if err != nil {
		if s.until.IsZero() {
			return ws, err
		}
		if s.Log != nil {
			s.Log.WarnContext(ctx, "webhook secret refresh failed; keeping the one read before", "err", err)
		}
		s.until = now.Add(ttl)
		return s.cached, nil
	}
	s.cached, s.until = ws, now.Add(ttl)
	return ws, nil
}

func (s *WebhookSecretSource) load(ctx context.Context) (WebhookSecret, error) {
	var ws WebhookSecret
	out, err := s.Client.GetSecretValue(ctx, &awssecrets.GetSecretValueInput{SecretId: aws.String(s.ARN)})
	if err != nil {
		return ws, fmt.Errorf("read webhook secret %s: %w", s.ARN, err)
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &ws); err != nil {
		return ws, fmt.Errorf("webhook secret %s is not JSON {appSecret, previousAppSecret, verifyToken}: %w", s.ARN, err)
	}
	if ws.AppSecret == "" || ws.VerifyToken == "" {
		return ws, errors.New("webhook secret needs both appSecret and verifyToken")
	}
	return ws, nil
}

// WebhookSecrets returns the cached webhook secret at arn, read once now so
// that a missing or ill-formed secret fails the function's init.
func (c *Clients) WebhookSecrets(ctx context.Context, arn string, log *slog.Logger) (*WebhookSecretSource, error) {
	src := &WebhookSecretSource{Client: c.Secrets, ARN: arn, Log: log}
	if _, err := src.WebhookSecret(ctx); err != nil {
		return nil, err
	}
	return src, nil
}

// MetaApp is the Meta app Embedded Signup runs for: its id from the
// environment, its secret the webhook secret's appSecret (the app secret
// that signs webhooks is the one the code exchange needs), re-read like
// the webhook function's, so a rotated secret is used without a redeploy.
type MetaApp struct {
	ID     string
	Secret *WebhookSecretSource
}

// MetaApp returns the Meta app for the app id and the webhook secret's ARN.
func (c *Clients) MetaApp(appID, webhookSecretARN string, log *slog.Logger) *MetaApp {
	return &MetaApp{ID: appID, Secret: &WebhookSecretSource{Client: c.Secrets, ARN: webhookSecretARN, Log: log}}
}

// Credentials implements integration.MetaApp.
func (m *MetaApp) Credentials(ctx context.Context) (string, string, error) {
	ws, err := m.Secret.WebhookSecret(ctx)
	if err != nil {
		return "", "", fmt.Errorf("meta app secret: %w", err)
	}
	return m.ID, ws.AppSecret, nil
}

// StripeSecret is the Stripe API key and the webhook endpoint's signing
// secret, kept in one secret.
type StripeSecret struct {
	SecretKey     string `json:"secretKey"`
	WebhookSecret string `json:"webhookSecret"`
}

// LoadStripeSecret reads and checks the Stripe secret.
func (c *Clients) LoadStripeSecret(ctx context.Context, arn string) (StripeSecret, error) {
	var ss StripeSecret
	out, err := c.Secrets.GetSecretValue(ctx, &awssecrets.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return ss, fmt.Errorf("read stripe secret %s: %w", arn, err)
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &ss); err != nil {
		return ss, fmt.Errorf("stripe secret %s is not JSON {secretKey, webhookSecret}: %w", arn, err)
	}
	if ss.SecretKey == "" || ss.WebhookSecret == "" {
		return ss, errors.New("stripe secret needs both secretKey and webhookSecret")
	}
	return ss, nil
}

// Billing adds the payment provider (Stripe, keys from the secret at
// WACRM_STRIPE_SECRET_ARN) and the rate card (the bucket's
// config/ratecard.json, else the shipped sample) to a, and returns the
// verifier of Stripe's webhook events.
func (c *Clients) Billing(ctx context.Context, env Env, a *app.Adapters) (stripepay.Events, error) {
	ss, err := c.LoadStripeSecret(ctx, env[EnvStripeSecret])
	if err != nil {
		return stripepay.Events{}, err
	}
	a.Payments = stripepay.New(stripepay.NewClient(ss.SecretKey, "", &http.Client{Timeout: 20 * time.Second}))
	if a.Rates, err = app.LoadRates(ctx, a.Blobs); err != nil {
		return stripepay.Events{}, err
	}
	return stripepay.Events{Secret: ss.WebhookSecret}, nil
}

// Claims names the token claims from the environment.
func Claims(env Env) auth.Claims {
	return auth.Claims{Org: env.Optional(EnvOrgClaim, "custom:org"), Groups: env.Optional(EnvGroupsClaim, "cognito:groups"),
		Roles: env.Optional(EnvRolesClaim, "custom:roles")}
}

// Pusher posts live events to the WebSocket API's connections (kept in
// store) through its management endpoint.
func (c *Clients) Pusher(env Env, store wsapi.Connections, log *slog.Logger) *wsapi.Pusher {
	api := apigatewaymanagementapi.NewFromConfig(c.Config, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(env[EnvWebSocketEndpoint])
	})
	return &wsapi.Pusher{API: api, Conns: store, Log: log}
}

// Verifier checks the tokens WebSockets open with, against the issuer's
// published keys.
func Verifier(env Env) *auth.OIDCVerifier {
	var auds []string
	for _, a := range strings.Split(env[EnvJWTAudience], ",") {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	return &auth.OIDCVerifier{Issuer: env[EnvJWTIssuer], Audiences: auds, Claims: Claims(env), HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// EnvLogLevel is where Lambda puts the function's application log level
// (the stack sets it; TRACE, DEBUG, INFO, WARN, ERROR or FATAL).
const EnvLogLevel = "AWS_LAMBDA_LOG_LEVEL"

// Logger is the JSON logger every function uses. Its lines are what
// Lambda's JSON log format expects of a custom runtime: a "level" and an
// RFC 3339 "timestamp", so Lambda filters them by the function's
// application log level and passes them on unchanged (the metric filters
// read their fields). Lines below that level are not even written.
func Logger() *slog.Logger { return NewLogger(os.Stdout, os.Getenv(EnvLogLevel)) }

// NewLogger is Logger writing to w at the given Lambda log level
// (INFO when empty or unknown).
func NewLogger(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: lambdaLevel(level),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				a.Key = "timestamp"
				a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
			}
			return a
		},
	}))
}

func lambdaLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return slog.LevelDebug - 4
	case "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	case "FATAL":
		return slog.LevelError + 4
	}
	return slog.LevelInfo
}

// Init is every main's start: the JSON logger, the required variables and
// the SDK clients, or a logged init failure naming what is missing.
func Init(ctx context.Context, required ...string) (*Clients, Env, *slog.Logger) {
	log := Logger()
	env, err := Require(required...)
	if err != nil {
		Fatal(log, err)
	}
	clients, err := NewClients(ctx)
	if err != nil {
		Fatal(log, err)
	}
	return clients, env, log
}

// Fatal logs err and exits: a Lambda init failure, reported by the runtime.
func Fatal(log *slog.Logger, err error) {
	log.Error("init failed", "err", err)
	os.Exit(1)
}
