package main

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// fnSpec is one function's deployment: sizing and environment.
type fnSpec struct {
	name      string
	desc      string
	memoryMB  float64
	timeoutS  float64
	env       map[string]*string
	construct string // construct id
}

// grants builds one function role's least-privilege policy. The only
// wildcards it writes are object-key prefixes, index ARNs and the token
// secret prefix; each is recorded with the reason cdk-nag's IAM5 finding
// for it is acceptable (see nag.go).
type grants struct {
	s     *stackParts
	role  awsiam.Role
	wilds []wildcard
}

type wildcard struct {
	findingRegex string // cdk-nag appliesTo regex, "/.../"
	reason       string
}

// tableActions are what the table port needs (GetItem, Query, transactions,
// which IAM authorises as the per-item actions). No Scan: every list is a
// Query (TestNoPolicyAllowsScan).
var tableActions = []string{
	"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
	"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
	"dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
}

func (g *grants) allow(actions []string, resources ...*string) {
	g.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

func (g *grants) tableReadWrite() {
	t := g.s.table
	g.allow(tableActions, t.TableArn(), jsii.String(*t.TableArn()+"/index/*"))
	g.wilds = append(g.wilds, wildcard{
		findingRegex: `/^Resource::<Table[0-9A-F]{8}\.Arn>\/index\/\*$/`,
		reason:       "Queries use the table's own GSIs (GSI1..GSI4); index/* names only this table's indexes.",
	})
}

// objects allows actions on the objects under the given key prefixes.
func (g *grants) objects(actions []string, prefixes ...string) {
	var res []*string
	for _, p := range prefixes {
		res = append(res, g.s.bucket.ArnForObjects(jsii.String(p+"*")))
		g.wilds = append(g.wilds, wildcard{
			findingRegex: `/^Resource::<Bucket[0-9A-F]{8}\.Arn>\/` + regexp.QuoteMeta(p) + `\*$/`,
			reason:       "Object keys are generated at run time; the grant is limited to the " + p + " prefix of this stack's bucket.",
		})
	}
	g.allow(actions, res...)
}

func (g *grants) tokenSecrets(actions ...string) {
	g.allow(actions, g.s.tokenARN)
	g.wilds = append(g.wilds, wildcard{
		findingRegex: `/^Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:` +
			regexp.QuoteMeta(TokenSecretPrefix(*g.s.stack.StackName())) + `\*$/`,
		reason: "One secret per WhatsApp integration is created at run time; the grant is limited to this stack's token name prefix.",
	})
}

func (s *stackParts) addFunctions() {
	p := s.props
	common := func(extra map[string]*string) map[string]*string {
		env := map[string]*string{EnvBucket: s.bucket.BucketName()}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	tokenPrefix := jsii.String(TokenSecretPrefix(*s.stack.StackName()))

	webhook := s.function(fnSpec{
		name: FnWebhook, construct: "WebhookFunction", memoryMB: webhookMemoryMB, timeoutS: webhookTimeoutS,
		desc: "Meta webhook: handshake, signature check, enqueue",
		env: common(map[string]*string{
			EnvInboundQueueURL:  s.inbound.queue.QueueUrl(),
			EnvWebhookSecretARN: s.webhookSec.SecretArn(),
		}),
	})
	webhook.g.objects([]string{"s3:PutObject"}, PrefixClaimCheck, PrefixMalformed)
	s.inbound.queue.GrantSendMessages(webhook.g.role)
	s.webhookSec.GrantRead(webhook.g.role, nil)

	inbound := s.function(fnSpec{
		name: FnInbound, construct: "InboundFunction", memoryMB: inboundMemoryMB, timeoutS: inboundTimeoutS,
		desc: "Consumes the inbound queue: messages and statuses into the table",
		env: common(map[string]*string{
			EnvTable:         s.table.TableName(),
			EnvMediaQueueURL: s.media.queue.QueueUrl(),
		}),
	})
	inbound.g.tableReadWrite()
	inbound.g.objects([]string{"s3:GetObject", "s3:DeleteObject"}, PrefixClaimCheck)
	// Bodies it can read only in part are kept, with the reasons.
	inbound.g.objects([]string{"s3:PutObject"}, PrefixMalformed)
	// A message with media becomes a media job; the media function copies it.
	s.media.queue.GrantSendMessages(inbound.g.role)
	inbound.consume(s.inbound.queue, inboundBatchSize, inboundWindowS, inboundMaxConc)

	apiEnv := map[string]*string{
		EnvTable:             s.table.TableName(),
		EnvOutboundQueueURL:  s.outbound.queue.QueueUrl(),
		EnvTokenSecretPrefix: tokenPrefix,
		EnvOrgClaim:          jsii.String(p.OrgClaim),
		EnvGroupsClaim:       jsii.String(p.GroupsClaim),
		EnvRolesClaim:        jsii.String(p.RolesClaim),
		// Connecting a number asks the Graph API whether its token reads it;
		// Embedded Signup's code exchange needs the app secret.
		EnvGraphBaseURL:     jsii.String(GraphBaseURL(p.GraphAPIVersion)),
		EnvWebhookSecretARN: s.webhookSec.SecretArn(),
		EnvStripeSecretARN:  s.stripeSec.SecretArn(),
	}
	if p.MetaAppID != "" {
		apiEnv[EnvMetaAppID] = jsii.String(p.MetaAppID)
	}
	api := s.function(fnSpec{
		name: FnAPI, construct: "ApiFunction", memoryMB: apiMemoryMB, timeoutS: apiTimeoutS,
		desc: "CRM API behind the JWT authorizer",
		env:  common(apiEnv),
	})
	api.g.tableReadWrite()
	api.g.objects([]string{"s3:GetObject", "s3:PutObject"}, PrefixAttachments, PrefixMedia)
	// Completing an upload deletes a file whose bytes were refused. The
	// presigned POST forms it signs inherit this role's PutObject on
	// attachments/, and their policy narrows each to one key.
	api.g.objects([]string{"s3:DeleteObject"}, PrefixAttachments)
	// The rate card a deployment puts in; unreadable Stripe events kept.
	api.g.objects([]string{"s3:GetObject"}, PrefixConfig)
	api.g.objects([]string{"s3:PutObject"}, PrefixMalformed)
	s.stripeSec.GrantRead(api.g.role, nil)
	s.outbound.queue.GrantSendMessages(api.g.role)
	// GetSecretValue: a profile connected through Embedded Signup uses its
	// WABA's business token, which the api reads to check the number.
	api.g.tokenSecrets("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue",
		"secretsmanager:DescribeSecret", "secretsmanager:TagResource")
	s.webhookSec.GrantRead(api.g.role, nil)

	send := s.function(fnSpec{
		name: FnSend, construct: "SendFunction", memoryMB: sendMemoryMB, timeoutS: sendTimeoutS,
		desc: "Consumes the outbound queue: sends through the Graph API",
		env: common(map[string]*string{
			EnvTable:             s.table.TableName(),
			EnvTokenSecretPrefix: tokenPrefix,
			EnvGraphBaseURL:      jsii.String(GraphBaseURL(p.GraphAPIVersion)),
			EnvOutboundQueueURL:  s.outbound.queue.QueueUrl(),
		}),
	})
	send.g.tableReadWrite()
	send.g.objects([]string{"s3:GetObject"}, PrefixAttachments)
	send.g.tokenSecrets("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
	// It re-enqueues with a delay to back off when Meta rate-limits.
	s.outbound.queue.GrantSendMessages(send.g.role)
	send.consume(s.outbound.queue, sendBatchSize, 0, sendMaxConc)

	media := s.function(fnSpec{
		name: FnMedia, construct: "MediaFunction", memoryMB: mediaMemoryMB, timeoutS: mediaTimeoutS,
		desc: "Consumes the media queue: copies inbound media from the Graph API to S3",
		env: common(map[string]*string{
			EnvTable:             s.table.TableName(),
			EnvTokenSecretPrefix: tokenPrefix,
			EnvGraphBaseURL:      jsii.String(GraphBaseURL(p.GraphAPIVersion)),
			EnvMediaQueueURL:     s.media.queue.QueueUrl(),
		}),
	})
	media.g.tableReadWrite()
	media.g.objects([]string{"s3:PutObject"}, PrefixMedia)
	media.g.tokenSecrets("secretsmanager:GetSecretValue")
	// It re-enqueues with a delay to back off when Meta rate-limits.
	s.media.queue.GrantSendMessages(media.g.role)
	media.consume(s.media.queue, mediaBatchSize, 0, mediaMaxConc)

	schedule := s.addScheduleFunction(common)
	recharge := s.addRechargeFunction(common)

	for _, f := range []deployedFn{webhook, inbound, api, send, media, schedule, recharge} {
		s.roleWilds = append(s.roleWilds, f.g)
	}
}

type deployedFn struct {
	fn awslambda.Function
	g  *grants
}

// consume makes f the consumer of q. Every consumer reports per-message
// failures, so one bad message is retried alone, not with its batch.
// windowS 0 means no batching window.
func (f deployedFn) consume(q awssqs.IQueue, batchSize, windowS, maxConcurrency float64) {
	props := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(batchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(maxConcurrency),
	}
	if windowS > 0 {
		props.MaxBatchingWindow = awscdk.Duration_Seconds(jsii.Number(windowS))
	}
	f.fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, props))
}

// function creates a function with its own role and log group. The role
// starts empty (no AWSLambdaBasicExecutionRole): it may write only to its
// own log group, and each grant is added by the caller.
func (s *stackParts) function(spec fnSpec) deployedFn {
	logs := awslogs.NewLogGroup(s.stack, jsii.String(spec.construct+"Logs"), &awslogs.LogGroupProps{
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})
	role := awsiam.NewRole(s.stack, jsii.String(spec.construct+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("wacrm " + spec.name + " function"),
	})
	logs.GrantWrite(role)
	fn := awslambda.NewFunction(s.stack, jsii.String(spec.construct), &awslambda.FunctionProps{
		Description:  jsii.String(spec.desc),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(zipPath(s.props.DistDir, spec.name)), nil),
		MemorySize:   jsii.Number(spec.memoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(spec.timeoutS)),
		Environment:  &spec.env,
		Role:         role,
		LogGroup:     logs,
		// JSON: Lambda filters the functions' JSON lines by level and
		// passes their fields on to the metric filters (metrics.go).
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: applicationLogLevels[s.props.LogLevel],
		SystemLogLevelV2:      systemLogLevel,
	})
	s.fns[spec.name] = fn
	return deployedFn{fn: fn, g: &grants{s: s, role: role}}
}
