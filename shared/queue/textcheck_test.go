package queue

import (
	"context"
	"testing"
)

type keepSender struct{ sent []Outgoing }

func (k *keepSender) Send(_ context.Context, msgs ...Outgoing) error {
	k.sent = append(k.sent, msgs...)
	return nil
}

// The webhook's body is scanned for SQS text once on its way to the queue:
// the claim check marks the inline bodies it has checked, Validate trusts
// that mark and nothing else, and the caller's messages are left unmarked
// (a reused message with a new body is checked again).
func TestTextCheckedOnce(t *testing.T) {
	k := &keepSender{}
	cc := &ClaimCheck{Sender: k}
	msgs := []Outgoing{{Body: []byte(`{"ok":true}`)}}
	if err := cc.Send(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	if !k.sent[0].textChecked {
		t.Error("the claim check did not mark the inline body it checked")
	}
	if msgs[0].textChecked {
		t.Error("the caller's message was marked")
	}
	if err := Validate(Outgoing{Body: []byte("a\x00b"), textChecked: true}); err != nil {
		t.Errorf("Validate scanned a body the claim check had vouched for: %v", err)
	}
	msgs[0].Body = []byte("a\x00b")
	if err := Validate(msgs[0]); err == nil {
		t.Error("an unmarked body with NUL passed Validate")
	}
}
