// Command hello is the smallest Go Lambda worth measuring: it echoes its JSON
// event. Built with the same flags as the real functions, it is the baseline
// their binary size, zip size, init time and invoke latency are compared to.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// echo returns the event unchanged; aws-lambda-go rejects an event that is
// not JSON before echo is called.
func echo(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	return event, nil
}

func main() {
	lambda.Start(echo)
}
