package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/storage"
)

// TestLivePush: the WebSocket API and its stage, the ws function checking
// the HTTP API's issuer and audience, and the notify and push functions fed
// by the table's stream with the same filters the local stack applies.
func TestLivePush(t *testing.T) {
	d, p := stacks(t)
	for _, s := range []*synthesized{d, p} {
		t.Run(s.name, func(t *testing.T) {
			api := props(s.one(t, "AWS::ApiGatewayV2::Api", "WebSocketApi"))
			if api["ProtocolType"] != "WEBSOCKET" || api["RouteSelectionExpression"] != "$request.body.action" {
				t.Errorf("WebSocket API: %v", render(api))
			}
			stage := props(s.one(t, "AWS::ApiGatewayV2::Stage", "WebSocketStage"))
			route := stage["DefaultRouteSettings"].(map[string]any)
			als, _ := stage["AccessLogSettings"].(map[string]any)
			if stage["StageName"] != WebSocketStageName || stage["AutoDeploy"] != true ||
				num(route["ThrottlingRateLimit"]) != wsRateLimit || num(route["ThrottlingBurstLimit"]) != wsBurstLimit ||
				render(als["DestinationArn"]) != "<WebSocketAccessLogs.Arn>" {
				t.Errorf("WebSocket stage: %v", render(stage))
			}
			out, _ := s.json["Outputs"].(map[string]any)["WebSocketUrl"].(map[string]any)
			if got := render(out["Value"]); got != "wss://<WebSocketApi>.execute-api.${Region}.${URLSuffix}/live" {
				t.Errorf("WebSocketUrl output: %s", got)
			}
			// The ws function may be invoked by this API only.
			var invokers []string
			for _, r := range s.ofType("AWS::Lambda::Permission") {
				rp := props(r)
				if render(rp["FunctionName"]) == "<WsFunction.Arn>" {
					invokers = append(invokers, rp["Principal"].(string)+" "+render(rp["SourceArn"]))
				}
			}
			if len(invokers) != 3 {
				t.Errorf("ws function invokers: %v, want the three routes", invokers)
			}
			for _, inv := range invokers {
				if !strings.HasPrefix(inv, "apigateway.amazonaws.com arn:${Partition}:execute-api:${Region}:${AccountId}:<WebSocketApi>/*$") {
					t.Errorf("ws function invoker %s", inv)
				}
			}

			// Stream consumers: filters as the local stack's, partial batch
			// responses, an on-failure queue.
			for fn, filters := range map[string][]changes.Filter{"<NotifyFunction>": storage.NotifyChanges, "<PushFunction>": storage.PushChanges} {
				var m map[string]any
				for _, r := range s.ofType("AWS::Lambda::EventSourceMapping") {
					if render(props(r)["FunctionName"]) == fn {
						m = props(r)
					}
				}
				if m == nil {
					t.Fatalf("%s has no event source", fn)
				}
				var patterns []string
				for _, f := range m["FilterCriteria"].(map[string]any)["Filters"].([]any) {
					patterns = append(patterns, f.(map[string]any)["Pattern"].(string))
				}
				if want := changes.FilterPatterns(filters); !reflect.DeepEqual(patterns, want) || render(m["EventSourceArn"]) != "<Table.StreamArn>" {
					t.Errorf("%s stream source: %s patterns %v, want %v", fn, render(m["EventSourceArn"]), patterns, want)
				}
				if m["DestinationConfig"] == nil || m["BisectBatchOnFunctionError"] != true {
					t.Errorf("%s stream source without failure handling: %v", fn, render(m))
				}
			}
		})
	}
	// An external issuer: the socket's token is checked against it, as the HTTP API's.
	env := props(p.one(t, "AWS::Lambda::Function", "WsFunction"))["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[EnvJWTIssuer] != prodIssuer || render(env[EnvJWTAudience]) != strings.Join(prodAudience, ",") {
		t.Errorf("prod ws issuer %v audience %v, want %s %v", env[EnvJWTIssuer], render(env[EnvJWTAudience]), prodIssuer, prodAudience)
	}
}
