package awsapp

import (
	"testing"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// The media queue is wired only where the function's environment names it:
// the inbound function sends jobs on it, the media function requeues on it.
func TestAdaptersMediaQueue(t *testing.T) {
	c := &Clients{SQS: awssqs.New(awssqs.Options{Region: "us-east-1"})}
	if a := c.Adapters(Env{}, nil); a.Media != nil {
		t.Errorf("media queue without %s", EnvMediaQueue)
	}
	a := c.Adapters(Env{EnvMediaQueue: "https://sqs.us-east-1.amazonaws.com/123456789012/wacrm-media"}, nil)
	if a.Media == nil {
		t.Errorf("no media queue with %s set", EnvMediaQueue)
	}
	if a.Inbound != nil || a.Outbound != nil {
		t.Error("the media queue URL wired another queue too")
	}
}
