package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/filesecrets"
	"github.com/wacrm/wacrm/shared/local/memqueue"
	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/payments/localpay"
	"github.com/wacrm/wacrm/shared/payments/stripepay"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// harness is one org's API over real storage, shared by every route's tests.
// Users: u-admin (admin) and u-sam, u-lee (sales) of org "acme"; u-eve (admin)
// of org "other". Integration "int-acme" on phone number 100000000000001.
type harness struct {
	t      *testing.T
	App    *app.App
	Server *httptest.Server
	Issuer *auth.HMACIssuer
	Now    time.Time
	Tokens map[string]string // by user id
	Integ  *integration.Integration
	// Blobs keeps media copies, served under /blobs/; MediaJobs is the
	// media queue intake fills (nobody consumes it here).
	Blobs     *fileblob.Store
	MediaJobs *memqueue.Queue
	// Sim is Meta's Graph API, served under /graph/: WABA 200 holds the
	// harness number (token acme-token); WABA 300 holds 100000000000002 to
	// ...09, each readable with "EAAG-secret-<number>" and all with
	// EAAG-waba-300, ...08 not verified by Meta; WABA 400 holds
	// 100000000000010 (token EAAG-other).
	Sim *metasim.Sim
	// Payments plays Stripe's test cards and posts signed events to
	// /billing/stripe/webhook (secret paymentSecret).
	Payments *localpay.Provider
}

// harnessAppSecret and the default app id are what the simulator's
// Embedded Signup code exchange expects.
const harnessAppSecret = "harness-app-secret"

func harnessWABAs() []metasim.WABA {
	acme := metasim.WABA{ID: "300", Name: "Acme", AccessTokens: []string{"EAAG-waba-300"}}
	for i := 2; i <= 9; i++ {
		pnid := fmt.Sprintf("1000000000000%02d", i)
		n := metasim.Number{PhoneNumberID: pnid, DisplayPhoneNumber: "1555010" + pnid[len(pnid)-4:], AccessTokens: []string{"EAAG-secret-" + pnid}}
		if i == 8 {
			n.CodeVerificationStatus = "NOT_VERIFIED"
		}
		acme.Numbers = append(acme.Numbers, n)
	}
	return []metasim.WABA{
		{ID: "200", Name: "Acme Sales", Numbers: []metasim.Number{{PhoneNumberID: "100000000000001", DisplayPhoneNumber: "15550100001", AccessTokens: []string{"acme-token", "acme-token-2"}}}},
		acme,
		{ID: "400", Name: "Globex", Numbers: []metasim.Number{{PhoneNumberID: "100000000000010", DisplayPhoneNumber: "15550100010", AccessTokens: []string{"EAAG-other"}}}},
	}
}

const paymentSecret = "whsec_harness"

// harnessCredits is what acme starts with, so replies are paid for.
const harnessCredits billing.Credits = 1_000_000

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend is the table every harness uses: the suite runs on bolt, then
// again on DynamoDB Local when make test has started it.
var backend = "bolt"

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv("WACRM_TEST_DYNAMODB_ENDPOINT") != "" {
		fmt.Println("httpapi: the same tests again, on DynamoDB Local")
		backend = "dynamo"
		code = m.Run()
	}
	os.Exit(code)
}

func newHarness(t *testing.T, tbl table.Table) *harness {
	t.Helper()
	if tbl == nil {
		tbl = storagetest.Tables(t)[backend](t)
	}
	vault, err := filesecrets.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, Now: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), Tokens: map[string]string{}}
	now := func() time.Time { return h.Now }
	mux := http.NewServeMux()
	h.Server = httptest.NewServer(mux)
	t.Cleanup(h.Server.Close)
	h.Blobs = fileblob.New(t.TempDir(), h.Server.URL, []byte("blob-signing-key-0123456789abcdef"))
	h.MediaJobs = memqueue.New("media", memqueue.Options{})
	h.Sim = metasim.New(metasim.Config{WABAs: harnessWABAs(), AppSecret: harnessAppSecret, Statuses: []string{}, Now: now, Logger: quietLog})
	t.Cleanup(h.Sim.Close)
	mux.Handle("/graph/", http.StripPrefix("/graph", h.Sim.Handler()))
	h.Payments = &localpay.Provider{WebhookURL: h.Server.URL + "/billing/stripe/webhook", Secret: paymentSecret, Log: quietLog}
	t.Cleanup(h.Payments.Wait)
	a := app.New(app.Adapters{Table: tbl, Blobs: h.Blobs, Inbound: memqueue.New("inbound", memqueue.Options{}), Outbound: memqueue.New("outbound", memqueue.Options{}),
		Media: h.MediaJobs, Secrets: vault, Payments: h.Payments, Log: quietLog, Now: now,
		Graph:   &whatsapp.GraphClient{BaseURL: h.Server.URL + "/graph/v23.0", HTTP: h.Server.Client()},
		MetaApp: integration.StaticApp{ID: metasim.DefaultAppID, Secret: harnessAppSecret}})
	h.App = a
	h.Issuer = &auth.HMACIssuer{Issuer: "test", Audience: "wacrm", Key: []byte("0123456789abcdef0123456789abcdef"), Now: now}
	mux.Handle("/v1/", a.API(h.Issuer).Handler())
	mux.Handle("/blobs/", h.Blobs.Handler())
	mux.Handle("POST /billing/stripe/webhook", a.PaymentWebhook(stripepay.Events{Secret: paymentSecret}))

	users := []auth.Principal{
		{UserID: "u-admin", Org: "acme", Name: "Ada", Groups: []string{"admin"}},
		{UserID: "u-sam", Org: "acme", Name: "Sam", Groups: []string{"sales"}},
		{UserID: "u-lee", Org: "acme", Name: "Lee", Groups: []string{"sales"}},
		{UserID: "u-eve", Org: "other", Name: "Eve", Groups: []string{"admin"}},
	}
	for _, p := range users {
		tok, err := h.Issuer.Issue(p, 72*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h.Tokens[p.UserID] = tok
		if err := a.Store.UpsertUser(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	h.Integ = &integration.Integration{ID: "int-acme", Org: "acme", Nickname: "Sales", PhoneNumberID: "100000000000001", WABAID: "200",
		Active: true, TokenRef: "tokens/int-acme", CreatedBy: "u-admin",
		Preferences: integration.Preferences{UnknownSenders: records.Leads, Assign: integration.Assignment{Kind: integration.AssignGroup, IDs: []string{"sales"}}}}
	if err := vault.Put(context.Background(), h.Integ.TokenRef, "acme-token"); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.CreateIntegration(context.Background(), h.Integ); err != nil {
		t.Fatal(err)
	}
	storagetest.Fund(t, a.Store, "acme", harnessCredits)
	return h
}

// do sends a request as user ("" = no token) and decodes a JSON answer into
// out when out is non-nil. It returns the status.
func (h *harness) do(user, method, path string, body any, out any, headers ...string) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.Server.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+h.Tokens[user])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// apiError is the error body every refusal carries.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// customerWrites delivers a text from waID to the acme integration at the
// harness clock, through the real intake.
func (h *harness) customerWrites(waID, name, wamid, text string) {
	h.t.Helper()
	body := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "200", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550100001", "phone_number_id": h.Integ.PhoneNumberID},
			"contacts":          []any{map[string]any{"wa_id": waID, "profile": map[string]any{"name": name}}},
			"messages":          []any{map[string]any{"from": waID, "id": wamid, "timestamp": jsonUnix(h.Now), "type": "text", "text": map[string]any{"body": text}}},
		}}}}},
	}
	b, _ := json.Marshal(body)
	if err := h.App.Intake.HandleBody(context.Background(), b); err != nil {
		h.t.Fatal(err)
	}
}

func jsonUnix(t time.Time) string { return json.Number(itoa(t.Unix())).String() }

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
