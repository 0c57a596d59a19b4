package dynamo_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/table"
)

// conflictInjector passes requests to DynamoDB Local but answers the first
// `remaining` calls of one operation (-1: all of them) with a canned error,
// as DynamoDB does under contention; DynamoDB Local serialises transactions
// and never reports a conflict itself.
type conflictInjector struct {
	mu        sync.Mutex
	operation string // "TransactWriteItems", "PutItem"
	remaining int
	body      string
	injected  int
}

func (c *conflictInjector) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	inject := r.Header.Get("X-Amz-Target") == "DynamoDB_20120810."+c.operation && c.remaining != 0
	if inject {
		c.remaining--
		c.injected++
	}
	c.mu.Unlock()
	if !inject {
		return http.DefaultTransport.RoundTrip(r)
	}
	return &http.Response{
		StatusCode: http.StatusBadRequest,
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:       io.NopCloser(strings.NewReader(c.body)),
		Request:    r,
	}, nil
}

const (
	transactionConflict = `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",` +
		`"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",` +
		`"CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}`
	putConflict = `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException",` +
		`"message":"Transaction is ongoing for the item"}`
)

func TestWriteRetriesConflicts(t *testing.T) {
	base := dynamotest.Client(t)
	name := dynamotest.CreateTable(t, base)
	cases := []struct {
		name      string
		operation string
		body      string
		conflicts int // -1: every attempt
		ops       int
		wantErr   error
		wantTries int
	}{
		{"transaction conflicts twice", "TransactWriteItems", transactionConflict, 2, 2, nil, 2},
		{"transaction always conflicts", "TransactWriteItems", transactionConflict, -1, 2, table.ErrConflict, 3},
		{"put conflicts once", "PutItem", putConflict, 1, 1, nil, 1},
		{"put always conflicts", "PutItem", putConflict, -1, 1, table.ErrConflict, 3},
	}
	for i, c := range cases {
		inj := &conflictInjector{operation: c.operation, remaining: c.conflicts, body: c.body}
		client := dynamodb.New(dynamodb.Options{
			Region:       "us-east-1",
			BaseEndpoint: base.Options().BaseEndpoint,
			Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
			HTTPClient:   &http.Client{Transport: inj},
		})
		tb := dynamo.New(client, name, dynamo.WithConflictAttempts(3))
		pk := "retry" + string(rune('a'+i))
		var ops []table.Op
		for j := range c.ops {
			ops = append(ops, table.Op{Put: &filler{Keys: table.Keys{PK: pk, SK: string(rune('0' + j))}}, Cond: table.NotExists()})
		}
		err := tb.Write(t.Context(), ops...)
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.wantErr)
		}
		if inj.injected != c.wantTries {
			t.Errorf("%s: %d conflicting attempts, want %d", c.name, inj.injected, c.wantTries)
		}
		var got []filler
		if _, err := dynamo.New(base, name).Query(t.Context(), table.Query{PK: pk}, &got); err != nil {
			t.Fatalf("query: %v", err)
		}
		if want := map[bool]int{true: c.ops, false: 0}[c.wantErr == nil]; len(got) != want {
			t.Errorf("%s: %d items stored, want %d", c.name, len(got), want)
		}
	}
}
