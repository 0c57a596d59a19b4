package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/table"
)

// WacrmStackProps configures NewWacrmStack. Zero values are the dev defaults.
type WacrmStackProps struct {
	awscdk.StackProps

	// DistDir holds <name>.zip for every name in Functions (`make build`).
	DistDir string
	// Prod turns on deletion protection (stack, table, user pool) and keeps
	// the table, bucket, user pool, secrets and logs when the stack or a
	// resource is deleted.
	Prod bool
	// JWTIssuer and JWTAudience select an existing OIDC provider for the
	// /v1 routes; with JWTIssuer empty the stack creates a Cognito user pool.
	JWTIssuer   string
	JWTAudience []string
	// OrgClaim and GroupsClaim name the token claims the api function reads
	// (defaults custom:org and cognito:groups, what the user pool issues).
	OrgClaim    string
	GroupsClaim string
	// RolesClaim names the claim holding the user's roles, for role-based
	// assignment (default custom:roles, the user pool's roles attribute).
	RolesClaim string
	// MetaAppID is the Meta app Embedded Signup runs for; without it the
	// api answers POST /v1/integrations/connect with 503.
	MetaAppID string
	// GraphAPIVersion is the Graph API version the send function calls (default v23.0).
	GraphAPIVersion string
	// CORSOrigins may call the API and the bucket's presigned URLs from a
	// browser (default "*": the API is bearer-token only, no cookies).
	CORSOrigins []string
	// AlarmEmail, if set, is subscribed to the alarm topic.
	AlarmEmail string
	// LogLevel is the functions' application log level (TRACE, DEBUG,
	// INFO, WARN, ERROR, FATAL); default INFO, WARN with Prod.
	LogLevel string
	// WebhookConcurrency is the webhook function's reserved concurrency
	// (default 50; negative: none, for accounts with a low limit).
	WebhookConcurrency int
}

func (p *WacrmStackProps) withDefaults() WacrmStackProps {
	q := *p
	if q.OrgClaim == "" {
		q.OrgClaim = DefaultOrgClaim
	}
	if q.GroupsClaim == "" {
		q.GroupsClaim = DefaultGroupsClaim
	}
	if q.RolesClaim == "" {
		q.RolesClaim = DefaultRolesClaim
	}
	if q.GraphAPIVersion == "" {
		q.GraphAPIVersion = DefaultGraphAPIVersion
	}
	if len(q.CORSOrigins) == 0 {
		q.CORSOrigins = []string{"*"}
	}
	q.LogLevel = strings.ToUpper(q.LogLevel)
	if q.LogLevel == "" {
		q.LogLevel = defaultLogLevel
		if q.Prod {
			q.LogLevel = defaultProdLogLevel
		}
	}
	if q.WebhookConcurrency == 0 {
		q.WebhookConcurrency = defaultWebhookConcurrency
	}
	return q
}

func (p *WacrmStackProps) validate() error {
	if p.JWTIssuer != "" && len(p.JWTAudience) == 0 {
		return fmt.Errorf("jwtIssuer %q needs jwtAudience (the client ids its tokens carry in aud)", p.JWTIssuer)
	}
	if p.JWTIssuer == "" && len(p.JWTAudience) > 0 {
		return fmt.Errorf("jwtAudience given without jwtIssuer")
	}
	if p.JWTIssuer != "" && !strings.HasPrefix(p.JWTIssuer, "https://") {
		return fmt.Errorf("jwtIssuer %q: API Gateway accepts only https issuers", p.JWTIssuer)
	}
	if _, ok := applicationLogLevels[strings.ToUpper(p.LogLevel)]; p.LogLevel != "" && !ok {
		return fmt.Errorf("logLevel %q: want TRACE, DEBUG, INFO, WARN, ERROR or FATAL", p.LogLevel)
	}
	var missing []string
	for _, name := range Functions {
		if _, err := os.Stat(zipPath(p.DistDir, name)); err != nil {
			missing = append(missing, zipPath(p.DistDir, name))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("function zips missing (run `make build` first, or set context distDir): %s", strings.Join(missing, ", "))
	}
	return nil
}

func zipPath(distDir, name string) string { return filepath.Join(distDir, name+".zip") }

// Timeouts and memory, chosen per function; queue visibility timeouts
// derive from the consumers' timeouts.
const (
	webhookTimeoutS = 10 // Meta wants a fast 200 and retries otherwise; the function only verifies and enqueues
	webhookMemoryMB = 256
	inboundTimeoutS = 30 // a batch of 10 webhook bodies, each a few DynamoDB transactions
	inboundMemoryMB = 256
	apiTimeoutS     = 15  // interactive requests; API Gateway itself gives up at 30 s
	apiMemoryMB     = 512 // more memory is more CPU: shorter cold starts and p99 for users
	sendTimeoutS    = 30  // Graph API calls for a batch; Meta answers in well under a second each
	sendMemoryMB    = 256
	mediaTimeoutS   = 60   // a document may be 100 MB: fetch its URL, download it, put it in S3
	mediaMemoryMB   = 1024 // the download is held in memory (up to 100 MB); more memory is more CPU for the checksum

	// AWS: a queue's visibility timeout should be at least six times the
	// consumer's timeout, so retries and batching windows never make a
	// message visible again while a function still works on it.
	visibilityFactor = 6
	maxReceiveCount  = 5
	inboundBatchSize = 10
	inboundWindowS   = 1
	inboundMaxConc   = 10 // caps DynamoDB write bursts when Meta replays a backlog
	sendBatchSize    = 10
	sendMaxConc      = 5 // Meta allows 80 messages/s per number by default; the send function backs off on 130429
	mediaBatchSize   = 5 // jobs run one after another; a batch that overruns the timeout comes back and skips what it copied
	mediaMaxConc     = 5 // caps parallel Graph API downloads; the media function backs off when rate-limited

	claimCheckDays = 15 // outlives the longest a message can sit in the inbound queue plus its DLQ (14 days)
	malformedDays  = 30
	dlqRetentionD  = 14 // SQS maximum: time to look at and redrive failures
)

// stackParts are the resources the grants, alarms and outputs refer to.
type stackParts struct {
	stack    awscdk.Stack
	props    WacrmStackProps
	removal  awscdk.RemovalPolicy
	table    awsdynamodb.Table
	bucket   awss3.Bucket
	inbound  queuePair
	outbound queuePair
	media    queuePair
	// One-time schedules and the table's stream consumers (triggers.go).
	schedule      queuePair
	scheduleGroup awsscheduler.ScheduleGroup
	schedulerRole awsiam.Role
	streamSources []streamSource
	webhookSec    awssecretsmanager.Secret
	stripeSec     awssecretsmanager.Secret
	tokenARN      *string // every secret under the token prefix
	fns           map[string]awslambda.Function
	roleWilds     []*grants // each function role's wildcard grants, for nag.go
	httpAPI       awsapigatewayv2.HttpApi
	// Live push (push.go): the WebSocket API and the token issuer it checks.
	wsAPI         awsapigatewayv2.WebSocketApi
	wsStage       awsapigatewayv2.WebSocketStage
	jwtIssuer     *string
	jwtAudience   *string
	asyncAPIRoute awsapigatewayv2.HttpRoute
	stage         awsapigatewayv2.HttpStage
	// Routes without an authorizer, on purpose (nag.go says why).
	webhookRoutes []awsapigatewayv2.HttpRoute
	openAPIRoute  awsapigatewayv2.HttpRoute
	paymentRoute  awsapigatewayv2.HttpRoute
	userPool      awscognito.UserPool // nil when an external issuer is used
}

type queuePair struct {
	name  string
	queue awssqs.Queue
	dlq   awssqs.Queue
}

// NewWacrmStack defines every resource the functions need: one stack, one
// `cdk deploy`. It panics (as CDK constructs do) on invalid props.
func NewWacrmStack(scope constructs.Construct, id string, props *WacrmStackProps) awscdk.Stack {
	if props == nil {
		props = &WacrmStackProps{}
	}
	p := props.withDefaults()
	if err := p.validate(); err != nil {
		panic(fmt.Sprintf("wacrm stack %s: %v", id, err))
	}
	if p.Prod && p.TerminationProtection == nil {
		p.TerminationProtection = jsii.Bool(true)
	}
	stack := awscdk.NewStack(scope, &id, &p.StackProps)
	s := &stackParts{stack: stack, props: p, removal: awscdk.RemovalPolicy_DESTROY, fns: map[string]awslambda.Function{}}
	if p.Prod {
		s.removal = awscdk.RemovalPolicy_RETAIN
	}

	s.addTable()
	s.addBucket()
	s.inbound = s.addQueuePair("Inbound", inboundTimeoutS)
	s.outbound = s.addQueuePair("Outbound", sendTimeoutS)
	s.media = s.addQueuePair("Media", mediaTimeoutS)
	s.addSchedules()
	s.addSecrets()
	s.addFunctions()
	s.addHTTPAPI()
	s.addFloodLimits()
	s.addPush()
	// A new function adds: its name to Functions and its environment to
	// contract.go, an add* method here (queues through addQueuePair), its
	// role's grants in addFunctions, and its queue pair to the alarm loop in
	// addOperations (function alarms follow Functions).
	s.addOperations()
	s.addOutputs()
	addNagSuppressions(s)
	return stack
}

func (s *stackParts) addTable() {
	s.table = awsdynamodb.NewTable(s.stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(table.Primary.PKAttr()), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(table.Primary.SKAttr()), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		TimeToLiveAttribute: jsii.String(table.AttrTTL),
		// The change stream (shared/changes): consumers read it instead of a
		// second write from the request path.
		Stream:             awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
		DeletionProtection: jsii.Bool(s.props.Prod),
		RemovalPolicy:      s.removal,
	})
	for _, idx := range table.Indexes {
		s.table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(string(idx)),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(idx.PKAttr()), Type: awsdynamodb.AttributeType_STRING},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(idx.SKAttr()), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
}

func (s *stackParts) addBucket() {
	s.bucket = awss3.NewBucket(s.stack, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     s.removal,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("expire-claim-checks"), Prefix: jsii.String(PrefixClaimCheck), Expiration: awscdk.Duration_Days(jsii.Number(claimCheckDays))},
			{Id: jsii.String("expire-malformed"), Prefix: jsii.String(PrefixMalformed), Expiration: awscdk.Duration_Days(jsii.Number(malformedDays))},
			{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1))},
		},
		// Browsers upload attachments (presigned POST forms) and download
		// media through presigned URLs; the signature is the credential.
		Cors: &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_GET, awss3.HttpMethods_PUT, awss3.HttpMethods_POST, awss3.HttpMethods_HEAD},
			AllowedOrigins: jsii.Strings(s.props.CORSOrigins...),
			AllowedHeaders: jsii.Strings("*"),
			ExposedHeaders: jsii.Strings("ETag"),
			MaxAge:         jsii.Number(3600),
		}},
	})
}

func (s *stackParts) addQueuePair(name string, consumerTimeoutS float64) queuePair {
	dlq := awssqs.NewQueue(s.stack, jsii.String(name+"DLQ"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(dlqRetentionD)),
	})
	q := awssqs.NewQueue(s.stack, jsii.String(name+"Queue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(visibilityFactor * consumerTimeoutS)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(maxReceiveCount)},
	})
	return queuePair{name: name, queue: q, dlq: dlq}
}

func (s *stackParts) addSecrets() {
	// The verify token is generated here; the app secret only Meta knows,
	// so the team puts it in after the first deploy (README: Deploy to AWS).
	s.webhookSec = awssecretsmanager.NewSecret(s.stack, jsii.String("WebhookSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("WhatsApp webhook: Meta app secret (set it after deploying) and the generated verify token"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(fmt.Sprintf(`{%q:%q}`, WebhookSecretAppSecretKey, WebhookSecretPlaceholder)),
			GenerateStringKey:    jsii.String(WebhookSecretVerifyTokenKey),
			ExcludePunctuation:   jsii.Bool(true),
			PasswordLength:       jsii.Number(32),
		},
		RemovalPolicy: s.removal,
	})
	// Stripe's API key and webhook signing secret come from Stripe's
	// dashboard; the team puts them in after the first deploy. The
	// generated webhookSecret matches no Stripe signature meanwhile.
	s.stripeSec = awssecretsmanager.NewSecret(s.stack, jsii.String("StripeSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Stripe: API secret key and the webhook endpoint's signing secret (set both after deploying)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(fmt.Sprintf(`{%q:%q}`, StripeSecretKeyKey, StripeSecretKeyPlaceholder)),
			GenerateStringKey:    jsii.String(StripeSecretWebhookKey),
			ExcludePunctuation:   jsii.Bool(true),
			PasswordLength:       jsii.Number(32),
		},
		RemovalPolicy: s.removal,
	})
	s.tokenARN = s.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("secretsmanager"),
		Resource:     jsii.String("secret"),
		ResourceName: jsii.String(TokenSecretPrefix(*s.stack.StackName()) + "*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

func (s *stackParts) addHTTPAPI() {
	p := s.props
	s.httpAPI = awsapigatewayv2.NewHttpApi(s.stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:            s.stack.StackName(),
		Description:        jsii.String("wacrm: Meta webhook and CRM API"),
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(p.CORSOrigins...),
			// The same lists as the local stack's httpapi.CORS, so a frontend
			// meets the same rules on make run as here.
			AllowMethods:  &[]awsapigatewayv2.CorsHttpMethod{awsapigatewayv2.CorsHttpMethod_ANY},
			AllowHeaders:  jsii.Strings(httpapi.CORSAllowHeaders...),
			ExposeHeaders: jsii.Strings(httpapi.CORSExposeHeaders...),
			MaxAge:        awscdk.Duration_Seconds(jsii.Number(httpapi.CORSMaxAge.Seconds())),
		},
	})
	accessLogs := awslogs.NewLogGroup(s.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})
	s.stage = s.httpAPI.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		AccessLogSettings: &accessLogSettings{
			dest:   awsapigatewayv2.NewLogGroupLogDestination(accessLogs),
			format: awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	})

	// Webhook routes are open at the gateway: Meta signs each POST and the
	// function checks X-Hub-Signature-256; GET is the verify-token handshake.
	webhook := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("WebhookIntegration"), s.fns[FnWebhook], nil)
	s.webhookRoutes = *s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/webhook"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST},
		Integration: webhook,
	})

	api := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), s.fns[FnAPI], nil)
	s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/v1/{proxy+}"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
		Integration: api,
		Authorizer:  s.authorizer(),
	})
	// Stripe's webhook is open at the gateway: Stripe signs each event and
	// the api function verifies Stripe-Signature over the raw body.
	s.paymentRoute = (*s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(StripeWebhookPath),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
		Integration: api,
	}))[0]
	// The OpenAPI document is public, like any published API description.
	s.openAPIRoute = (*s.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/openapi.json"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: api,
	}))[0]
}

// accessLogFormat uses HTTP API context variables ($context.routeKey etc.).
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","method":"$context.httpMethod","routeKey":"$context.routeKey",` +
	`"path":"$context.path","status":"$context.status","protocol":"$context.protocol",` +
	`"responseLength":"$context.responseLength","latencyMs":"$context.responseLatency",` +
	`"integrationLatencyMs":"$context.integrationLatency","integrationError":"$context.integrationErrorMessage",` +
	`"authorizerError":"$context.authorizer.error","sub":"$context.authorizer.claims.sub"}`

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	dest   awsapigatewayv2.IAccessLogDestination
	format awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return a.dest }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return a.format }

// authorizer is a JWT authorizer on the given issuer, or on a user pool
// this stack creates.
func (s *stackParts) authorizer() awsapigatewayv2.IHttpRouteAuthorizer {
	p := s.props
	if p.JWTIssuer != "" {
		s.setIssuer(jsii.String(p.JWTIssuer), *jsii.Strings(p.JWTAudience...)...)
		return awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("JwtAuthorizer"), jsii.String(p.JWTIssuer),
			&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{JwtAudience: jsii.Strings(p.JWTAudience...)})
	}
	s.userPool = awscognito.NewUserPool(s.stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false), // an admin creates every user with their org
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			// Immutable: the org in a token can never be changed by its user.
			OrgAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				Mutable: jsii.Bool(false), MinLen: jsii.Number(1), MaxLen: jsii.Number(64),
			}),
			// Roles for role-based assignment, comma-separated; set by an
			// admin (admin-update-user-attributes), never by the user.
			RolesAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				Mutable: jsii.Bool(true), MaxLen: jsii.Number(256),
			}),
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(12),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:                awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:    &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection: jsii.Bool(s.props.Prod),
		RemovalPolicy:      s.removal,
	})
	client := s.userPool.AddClient(jsii.String("WebClient"), &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false), // a browser app cannot keep a secret
		DisableOAuth:               jsii.Bool(true),  // the frontend signs in with SRP, no hosted UI
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true), UserPassword: jsii.Bool(true)},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(30)),
		ReadAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), EmailVerified: jsii.Bool(true), Fullname: jsii.Bool(true)}).
			WithCustomAttributes(jsii.String(OrgAttribute), jsii.String(RolesAttribute)),
		WriteAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Fullname: jsii.Bool(true)}),
	})
	awscognito.NewUserPoolGroup(s.stack, jsii.String("AdminGroup"), &awscognito.UserPoolGroupProps{
		UserPool:    s.userPool,
		GroupName:   jsii.String(AdminGroup),
		Description: jsii.String("wacrm admins: manage integrations, billing and views"),
	})
	awscdk.NewCfnOutput(s.stack, jsii.String("UserPoolId"), &awscdk.CfnOutputProps{
		Value: s.userPool.UserPoolId(), Description: jsii.String("Cognito user pool; create users here (README: Deploy to AWS)"),
	})
	awscdk.NewCfnOutput(s.stack, jsii.String("UserPoolClientId"), &awscdk.CfnOutputProps{
		Value: client.UserPoolClientId(), Description: jsii.String("App client id for the CRM frontend (no secret)"),
	})
	s.setIssuer(awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), s.userPool.UserPoolProviderUrl()}), client.UserPoolClientId())
	return awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("UserPoolAuthorizer"), s.userPool,
		&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{UserPoolClients: &[]awscognito.IUserPoolClient{client}})
}

func (s *stackParts) logRetention() awslogs.RetentionDays {
	if s.props.Prod {
		return awslogs.RetentionDays_THREE_MONTHS
	}
	return awslogs.RetentionDays_ONE_MONTH
}

func (s *stackParts) addOutputs() {
	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(s.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	url := s.stage.Url() // ends with "/"
	out("WebhookUrl", awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String("webhook")}),
		"Callback URL for Meta's app settings (WhatsApp > Configuration)")
	out("ApiUrl", url, "Base URL of the CRM API (routes under /v1, JWT required)")
	out("OpenApiUrl", awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String("openapi.json")}), "OpenAPI document of the CRM API")
	out("WebhookSecretArn", s.webhookSec.SecretArn(), "Secret holding Meta's app secret (set it) and the webhook verify token")
	out("TokenSecretPrefix", jsii.String(TokenSecretPrefix(*s.stack.StackName())), "Name prefix of the per-integration access-token secrets")
	out("StripeSecretArn", s.stripeSec.SecretArn(), "Secret holding Stripe's secret key and the webhook signing secret (set both)")
	out("StripeWebhookUrl", awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String(StripeWebhookPath[1:])}),
		"Endpoint URL to register in Stripe's dashboard (events: payment_intent.succeeded, payment_intent.payment_failed)")
	out("WebhookFunctionName", s.fns[FnWebhook].FunctionName(), "The webhook function (it re-reads its secret every 2 minutes)")
	out("TableName", s.table.TableName(), "DynamoDB table")
	out("BucketName", s.bucket.BucketName(), "S3 bucket (claim checks, media, attachments)")
}
