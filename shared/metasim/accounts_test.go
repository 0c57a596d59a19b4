package metasim

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// accounts: WABA 1 with three numbers (one not verified), WABA 2 with one.
func accountsFixture(t *testing.T, stateFile string) *fixture {
	return newFixture(t, func(c *Config) {
		c.Numbers = nil
		c.PageSize = 2
		c.StateFile = stateFile
		c.WABAs = []WABA{
			{ID: "201", Name: "Acme", AccessTokens: []string{"tok-waba-201"}, Numbers: []Number{
				{PhoneNumberID: "101", DisplayPhoneNumber: "15550000101"},
				{PhoneNumberID: "102", DisplayPhoneNumber: "15550000102", AccessTokens: []string{"tok-102"}},
				{PhoneNumberID: "103", DisplayPhoneNumber: "15550000103", CodeVerificationStatus: "NOT_VERIFIED"},
			}},
			{ID: "202", Name: "Globex", Numbers: []Number{{PhoneNumberID: "104", AccessTokens: []string{"tok-104"}}}},
		}
	})
}

func TestPhoneNumbersOfAWABA(t *testing.T) {
	f := accountsFixture(t, "")
	ctx := context.Background()
	got, err := f.graph.PhoneNumbers(ctx, "201", "tok-waba-201")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range got {
		ids = append(ids, n.ID+":"+n.CodeVerificationStatus+":"+n.VerifiedName)
	}
	if want := []string{"101:VERIFIED:Acme", "102:VERIFIED:Acme", "103:NOT_VERIFIED:Acme"}; !slices.Equal(ids, want) {
		t.Errorf("numbers across two pages: %v, want %v", ids, want)
	}
	// A number's own token lists its account too; another account's does not.
	if got, err := f.graph.PhoneNumbers(ctx, "201", "tok-102"); err != nil || len(got) != 3 {
		t.Errorf("with a number's token: %d numbers, %v", len(got), err)
	}
	if _, err := f.graph.PhoneNumbers(ctx, "201", "tok-104"); !isCode(err, whatsapp.ErrCodeInvalidParameter) {
		t.Errorf("another account's token: %v, want code 100", err)
	}
	if _, err := f.graph.PhoneNumbers(ctx, "201", "no-such-token"); !isCode(err, whatsapp.ErrCodeAccessToken) {
		t.Errorf("unknown token: %v, want code 190", err)
	}
}

func TestReadOnePhoneNumber(t *testing.T) {
	f := accountsFixture(t, "")
	ctx := context.Background()
	for _, c := range []struct {
		pnid, token string
		ok          bool
	}{
		{"101", "tok-waba-201", true},
		{"102", "tok-102", true},
		{"101", "tok-102", false}, // a number's token reads only that number
		{"104", "tok-waba-201", false},
		{"999", "tok-waba-201", false},
	} {
		n, err := f.graph.PhoneNumber(ctx, c.pnid, c.token)
		if c.ok && (err != nil || n.ID != c.pnid || n.QualityRating != "GREEN") {
			t.Errorf("%s with %s: %+v %v", c.pnid, c.token, n, err)
		}
		if !c.ok && !isCode(err, whatsapp.ErrCodeInvalidParameter) {
			t.Errorf("%s with %s: %v, want code 100", c.pnid, c.token, err)
		}
	}
	// Media is still served under the same route.
	if _, _, _, err := f.graph.MediaURL(ctx, "123456", "tok-waba-201"); !isCode(err, whatsapp.ErrCodeInvalidParameter) {
		t.Errorf("unknown media: %v", err)
	}
}

func TestEmbeddedSignupCodeExchange(t *testing.T) {
	f := accountsFixture(t, "")
	ctx := context.Background()
	code, err := f.sim.Signup("202")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.graph.ExchangeCode(ctx, DefaultAppID, "wrong-secret", code); err == nil {
		t.Error("exchange with a wrong app secret succeeded")
	}
	if _, err := f.graph.ExchangeCode(ctx, "42", testSecret, code); err == nil {
		t.Error("exchange with a wrong app id succeeded")
	}
	token, err := f.graph.ExchangeCode(ctx, DefaultAppID, testSecret, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.graph.ExchangeCode(ctx, DefaultAppID, testSecret, code); err == nil {
		t.Error("a code was exchanged twice")
	}
	if _, err := f.graph.PhoneNumber(ctx, "104", token); err != nil {
		t.Errorf("the business token cannot read its account's number: %v", err)
	}
	if _, err := f.graph.PhoneNumber(ctx, "101", token); err == nil {
		t.Error("the business token reads another account's number")
	}
	if f.sim.Subscribed("202") {
		t.Error("subscribed before anyone asked")
	}
	if err := f.graph.SubscribeApp(ctx, "202", token); err != nil || !f.sim.Subscribed("202") {
		t.Errorf("subscribe: %v, subscribed %v", err, f.sim.Subscribed("202"))
	}
	if err := f.graph.SubscribeApp(ctx, "201", token); err == nil || f.sim.Subscribed("201") {
		t.Errorf("subscribed to another account: %v", err)
	}
	if _, err := f.sim.Signup("999"); err == nil {
		t.Error("signup for an unknown account succeeded")
	}
}

// TestStateSurvivesRestart: customers (and their open windows), issued
// business tokens and subscriptions come back with a new simulator.
func TestStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	f := accountsFixture(t, state)
	ctx := context.Background()
	f.customerWrites(t, Inbound{PhoneNumberID: "101", From: "15557654321", Name: "Ana Díaz", Text: "hola"})
	code, err := f.sim.Signup("202")
	if err != nil {
		t.Fatal(err)
	}
	token, err := f.graph.ExchangeCode(ctx, DefaultAppID, testSecret, code)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.graph.SubscribeApp(ctx, "202", token); err != nil {
		t.Fatal(err)
	}
	f.sim.Close()

	g := accountsFixture(t, state)
	g.clock = f.clock
	g.sim.now = f.clock.Now
	if !g.sim.WindowOpen("101", "15557654321") {
		t.Error("the customer's window is closed after a restart")
	}
	if _, err := g.graph.PhoneNumber(ctx, "104", token); err != nil {
		t.Errorf("the issued business token is unknown after a restart: %v", err)
	}
	if !g.sim.Subscribed("202") {
		t.Error("the subscription is lost after a restart")
	}
	if _, err := g.graph.SendMessage(ctx, "101", "tok-waba-201", whatsapp.OutboundMessage{To: "15557654321", Type: "text", Text: &whatsapp.OutText{Body: "hi again"}}); err != nil {
		t.Errorf("send to the remembered customer: %v", err)
	}
	if out := g.sim.Outbox("15557654321"); len(out) != 1 {
		t.Errorf("outbox %d, want 1", len(out))
	}
}

func isCode(err error, code int) bool {
	ge, ok := whatsapp.AsGraphError(err)
	return ok && ge.Code == code
}
