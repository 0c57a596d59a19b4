package main

// The contract between this stack and the functions under functions/: the
// zip each function ships in, the environment it reads and the defaults the
// stack fills in. Function code reads these names; keep both sides in step.

// Function names: `make build` writes dist/<name>.zip holding a linux/arm64
// executable called bootstrap.
const (
	FnWebhook  = "webhook"  // GET/POST /webhook: verifies Meta's signature, enqueues the raw body
	FnInbound  = "inbound"  // consumes the inbound queue: stores messages and statuses
	FnAPI      = "api"      // ANY /v1/{proxy+} and GET /openapi.json: the CRM API
	FnSend     = "send"     // consumes the outbound queue: calls the Graph API
	FnMedia    = "media"    // consumes the media queue: copies inbound media from the Graph API to S3
	FnSchedule = "schedule" // consumes the schedule queue: runs one-time schedules' firings
	FnNotify   = "notify"   // table stream: the owners' notifications, reminder and window schedules
	FnPush     = "push"     // table stream: live events posted to WebSocket connections
	FnWS       = "ws"       // WebSocket API $connect/$disconnect/$default
	FnRecharge = "recharge" // table stream: auto-recharges and refunds of failed replies
)

// Functions lists every function this stack deploys; tests write a zip for each.
var Functions = []string{FnWebhook, FnInbound, FnAPI, FnSend, FnMedia, FnSchedule, FnNotify, FnPush, FnWS, FnRecharge}

// Environment variables the functions read.
const (
	EnvInboundQueueURL   = "WACRM_INBOUND_QUEUE_URL"
	EnvOutboundQueueURL  = "WACRM_OUTBOUND_QUEUE_URL"
	EnvMediaQueueURL     = "WACRM_MEDIA_QUEUE_URL"
	EnvBucket            = "WACRM_BUCKET"
	EnvTable             = "WACRM_TABLE"
	EnvWebhookSecretARN  = "WACRM_WEBHOOK_SECRET_ARN"  // secret JSON: {"appSecret":"...","verifyToken":"..."}
	EnvTokenSecretPrefix = "WACRM_TOKEN_SECRET_PREFIX" // one secret per integration, named <prefix><integration id>
	EnvOrgClaim          = "WACRM_ORG_CLAIM"           // JWT claim holding the user's org
	EnvGroupsClaim       = "WACRM_GROUPS_CLAIM"        // JWT claim holding the user's groups ("admin")
	EnvRolesClaim        = "WACRM_ROLES_CLAIM"         // JWT claim holding the user's roles (role-based assignment)
	EnvMetaAppID         = "WACRM_META_APP_ID"         // Meta app id for Embedded Signup (its secret is the webhook secret's appSecret)
	EnvGraphBaseURL      = "WACRM_GRAPH_BASE_URL"      // Graph API base including the version, no trailing slash
	EnvStripeSecretARN   = "WACRM_STRIPE_SECRET_ARN"   // secret JSON: {"secretKey":"sk_...","webhookSecret":"whsec_..."}
	// A function that sets one-time schedules (EventBridge Scheduler) gets all five.
	EnvScheduleGroup    = "WACRM_SCHEDULE_GROUP"     // the stack's schedule group
	EnvScheduleQueueURL = "WACRM_SCHEDULE_QUEUE_URL" // every schedule's target; due schedules are sent there at once
	EnvScheduleQueueARN = "WACRM_SCHEDULE_QUEUE_ARN"
	EnvSchedulerRoleARN = "WACRM_SCHEDULER_ROLE_ARN" // the role EventBridge Scheduler assumes to send to the queue
	EnvScheduleDLQARN   = "WACRM_SCHEDULE_DLQ_ARN"   // where EventBridge Scheduler puts firings it could not deliver
	// Live push.
	EnvWebSocketEndpoint = "WACRM_WEBSOCKET_ENDPOINT" // the WebSocket stage's management (callback) URL
	EnvJWTIssuer         = "WACRM_JWT_ISSUER"         // issuer of the tokens sockets open with (as the HTTP API's authorizer)
	EnvJWTAudience       = "WACRM_JWT_AUDIENCE"       // its accepted audiences, comma-separated
)

// The Stripe secret: the API key and the webhook endpoint's signing secret,
// both from Stripe's dashboard, put in after the first deploy (README:
// Billing). Until then purchases fail and every event is refused.
const (
	StripeSecretKeyKey         = "secretKey"
	StripeSecretWebhookKey     = "webhookSecret"
	StripeSecretKeyPlaceholder = "REPLACE_WITH_STRIPE_SECRET_KEY"
	// StripeWebhookPath is the route Stripe posts its events to.
	StripeWebhookPath = "/billing/stripe/webhook"
)

// Keys of the webhook secret's JSON value.
const (
	WebhookSecretAppSecretKey   = "appSecret"
	WebhookSecretVerifyTokenKey = "verifyToken"
	// WebhookSecretPreviousAppSecretKey holds the app secret before the
	// current one during a rotation; both verify.
	WebhookSecretPreviousAppSecretKey = "previousAppSecret"
	// WebhookSecretPlaceholder is the appSecret the stack creates: the
	// webhook answers 503 and counts metric.WebhookSecretPlaceholder (an
	// alarm) until the team puts the real app secret in (README: Deploy to AWS).
	WebhookSecretPlaceholder = "REPLACE_WITH_META_APP_SECRET"
)

// Defaults.
const (
	DefaultOrgClaim        = "custom:org"
	DefaultGroupsClaim     = "cognito:groups"
	DefaultRolesClaim      = "custom:roles"
	DefaultGraphAPIVersion = "v23.0"
	GraphHost              = "https://graph.facebook.com"
	AdminGroup             = "admin"
	OrgAttribute           = "org"   // Cognito custom attribute; tokens carry it as custom:org
	RolesAttribute         = "roles" // Cognito custom attribute, comma-separated roles; tokens carry it as custom:roles
)

// S3 key prefixes; the lifecycle rules and the grants are per prefix.
const (
	PrefixClaimCheck  = "claimcheck/"  // webhook bodies too large for an SQS message
	PrefixMalformed   = "malformed/"   // signed bodies the webhook or inbound could not process in full, kept with the reasons
	PrefixMedia       = "media/"       // inbound media copied from Meta: media/<org>/<conversationId>/<messageId>
	PrefixAttachments = "attachments/" // files users attach to replies
	PrefixConfig      = "config/"      // the deployment's rate card: config/ratecard.json
)

// TokenSecretPrefix is the Secrets Manager name prefix under which the api
// function stores one access token per WhatsApp integration.
func TokenSecretPrefix(stackName string) string {
	return "wacrm/" + stackName + "/tokens/"
}

// GraphBaseURL is the Graph API base the send and media functions call.
func GraphBaseURL(version string) string {
	return GraphHost + "/" + version
}
