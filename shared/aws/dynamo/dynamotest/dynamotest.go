// Package dynamotest connects tests to DynamoDB Local, started by
// scripts/testenv/run.sh (make test) and found through
// WACRM_TEST_DYNAMODB_ENDPOINT.
package dynamotest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
)

// Client returns a client for DynamoDB Local. Without the endpoint the test
// is skipped, or fails when WACRM_REQUIRE_SERVERS=1.
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// StreamsClient returns a client for DynamoDB Local's Streams API (the
// same endpoint), skipping like Client.
func StreamsClient(t testing.TB) *dynamodbstreams.Client {
	t.Helper()
	return dynamodbstreams.New(dynamodbstreams.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func endpoint(t testing.TB) string {
	t.Helper()
	endpoint := os.Getenv("WACRM_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("WACRM_REQUIRE_SERVERS") == "1" {
			t.Fatal("WACRM_TEST_DYNAMODB_ENDPOINT is not set (run through scripts/testenv/run.sh)")
		}
		t.Skip("WACRM_TEST_DYNAMODB_ENDPOINT not set; run through scripts/testenv/run.sh (make test)")
	}
	return endpoint
}

// NewTable creates a fresh table for the test and deletes it afterwards.
func NewTable(t testing.TB, opts ...dynamo.Option) *dynamo.Table {
	t.Helper()
	client := Client(t)
	return dynamo.New(client, CreateTable(t, client), opts...)
}

// CreateTable creates a fresh, uniquely named table with client, deletes it
// when the test ends, and returns its name.
func CreateTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("wacrm-test-%08x", rand.Uint32())
	if err := dynamo.CreateTable(context.Background(), client, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		if _, err := client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
	return name
}
