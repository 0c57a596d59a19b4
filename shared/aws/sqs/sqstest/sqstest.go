// Package sqstest connects tests to the SQS stand-in (fauxqs) started by
// scripts/testenv/run.sh (make test) and found through
// WACRM_TEST_SQS_ENDPOINT.
package sqstest

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Client returns a client for the SQS stand-in. Without the endpoint the
// test is skipped, or fails when WACRM_REQUIRE_SERVERS=1.
func Client(t testing.TB) *sqs.Client {
	t.Helper()
	endpoint := os.Getenv("WACRM_TEST_SQS_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("WACRM_REQUIRE_SERVERS") == "1" {
			t.Fatal("WACRM_TEST_SQS_ENDPOINT is not set (run through scripts/testenv/run.sh)")
		}
		t.Skip("WACRM_TEST_SQS_ENDPOINT is not set; run through scripts/testenv/run.sh (make test)")
	}
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}
