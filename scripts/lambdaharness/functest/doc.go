// Package functest proves that each Lambda function's real bootstrap, built
// with the deploy flags, starts and handles its sample events from events/,
// wired by its own environment (the contract the CDK stack fills in) to
// protocol servers on loopback: DynamoDB Local and fauxqs (started by
// scripts/testenv/run.sh), gofakes3 for S3, and httptest servers speaking
// Secrets Manager's JSON protocol and the Graph API. It runs the chain a
// customer message takes, webhook -> inbound queue -> inbound -> table ->
// api -> outbound queue -> send -> Graph API, and a customer's image's,
// webhook -> inbound -> media queue -> media -> Graph API -> S3, through the
// Runtime API harness (scripts/lambdaharness), and logs init time and
// invoke latency of every function next to the hello baseline.
//
// The package is its test; there is nothing to import.
//
//	make harness-local                          # the table, N=20
//	scripts/testenv/run.sh go test -count=1 -v -run TestFunctions ./scripts/lambdaharness/functest -args -invokes 200
package functest
