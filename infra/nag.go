package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// AddNagChecks runs cdk-nag's AwsSolutions pack on everything in scope at
// synthesis; its errors are annotations that fail `cdk synth`/`deploy`.
func AddNagChecks(scope awscdk.Stack) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// addNagSuppressions accepts the AwsSolutions findings this design accepts
// on purpose, each with its reason, each on the one resource it is about.
// IAM5 is accepted only for the exact wildcard resources the grants wrote.
func addNagSuppressions(s *stackParts) {
	suppress := func(c interface{}, id, reason string) {
		cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{
			{Id: jsii.String(id), Reason: jsii.String(reason)},
		}, jsii.Bool(true))
	}

	for _, g := range s.roleWilds {
		var sups []*cdknag.NagPackSuppression
		seen := map[string]bool{}
		for _, w := range g.wilds {
			if seen[w.findingRegex] {
				continue
			}
			seen[w.findingRegex] = true
			sups = append(sups, &cdknag.NagPackSuppression{
				Id:        jsii.String("AwsSolutions-IAM5"),
				Reason:    jsii.String(w.reason),
				AppliesTo: &[]interface{}{&cdknag.RegexAppliesTo{Regex: jsii.String(w.findingRegex)}},
			})
		}
		if len(sups) > 0 {
			cdknag.NagSuppressions_AddResourceSuppressions(g.role, &sups, jsii.Bool(true))
		}
	}

	for _, r := range s.webhookRoutes {
		suppress(r, "AwsSolutions-APIG4",
			"Open at the gateway on purpose: Meta sends no JWT. The webhook function checks the X-Hub-Signature-256 "+
				"HMAC of every POST and the verify token of the GET handshake.")
	}
	suppress(s.paymentRoute, "AwsSolutions-APIG4",
		"Open at the gateway on purpose: Stripe sends no JWT. The api function verifies the Stripe-Signature HMAC "+
			"over the raw body of every event (stripe-go's webhook package) and applies each event once.")
	suppress(s.stripeSec, "AwsSolutions-SMG4",
		"Holds Stripe's API key and webhook signing secret, issued and rolled in Stripe's dashboard; no rotation "+
			"Lambda can change them on Stripe's side.")
	suppress(s.wsAPI, "AwsSolutions-APIG4",
		"WebSocket APIs have no JWT authorizer: the $connect function verifies the user's token against the issuer's "+
			"published keys (same issuer, audience and org rules as the HTTP API) and refuses the socket otherwise; "+
			"$disconnect and $default only ever follow an accepted $connect.")
	for _, src := range s.streamSources {
		suppress(src.failures, "AwsSolutions-SQS3",
			"This queue is itself the dead-letter destination of the "+src.name+" stream consumer (the mapping's on-failure queue).")
	}
	suppress(s.asyncAPIRoute, "AwsSolutions-APIG4",
		"The AsyncAPI document describes the pushed events and holds no data, like the OpenAPI document.")
	suppress(s.openAPIRoute, "AwsSolutions-APIG4",
		"The OpenAPI document describes the public API and holds no data; the CRM frontend and tools fetch it unauthenticated.")
	suppress(s.bucket, "AwsSolutions-S1",
		"Only this stack's function roles reach the bucket (all public access blocked, TLS enforced); server access "+
			"logs would need a second bucket per deployment. Enable CloudTrail S3 data events where an audit trail is required.")
	suppress(s.webhookSec, "AwsSolutions-SMG4",
		"Holds Meta's app secret and the webhook verify token, both rotated by hand in Meta's app settings; "+
			"no rotation Lambda can change them on Meta's side.")
	if s.userPool != nil {
		suppress(s.userPool, "AwsSolutions-COG3",
			"Threat protection (advanced security, ENFORCED) needs the Cognito Plus feature plan, billed per "+
				"active user; self sign-up is off, passwords are strong and MFA (TOTP) is available. Teams that "+
				"want it set FeaturePlan PLUS and StandardThreatProtectionMode FULL_FUNCTION.")
	}
}
