package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/httpapi"
)

func TestCORS(t *testing.T) {
	h := newHarness(t, nil)
	h.customerWrites("15550000041", "C", "wamid.cors1", "hi")
	api := h.App.API(h.Issuer).Handler()
	allowOne := httptest.NewServer(httpapi.CORS([]string{"https://crm.example.com"}, api))
	defer allowOne.Close()
	allowAny := httptest.NewServer(httpapi.CORS([]string{"*"}, api))
	defer allowAny.Close()

	send := func(base, method, path, origin string, headers ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(""))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// A browser's preflight before a reply: answered without a token.
	resp, _ := send(allowOne.URL, "OPTIONS", "/v1/conversations/c1/messages", "https://crm.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://crm.example.com" {
		t.Fatalf("preflight: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"POST", "PATCH", "DELETE"} {
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), want) {
			t.Errorf("preflight allows methods %q, want %s among them", resp.Header.Get("Access-Control-Allow-Methods"), want)
		}
	}
	for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key"} {
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("preflight allows headers %q, want %s among them", resp.Header.Get("Access-Control-Allow-Headers"), want)
		}
	}
	if resp.Header.Get("Access-Control-Max-Age") == "" {
		t.Error("preflight without Max-Age: every request would be preceded by one")
	}

	// The real request: the origin is allowed and the headers the client
	// reads are exposed (Location of what a POST created, among others).
	resp, _ = func() (*http.Response, string) {
		req, _ := http.NewRequest("POST", allowOne.URL+"/v1/canned-responses", strings.NewReader(`{"module":"Leads","name":"Hi","text":"Hello"}`))
		req.Header.Set("Origin", "https://crm.example.com")
		req.Header.Set("Authorization", "Bearer "+h.Tokens["u-sam"])
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r, string(b)
	}()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") == "" || resp.Header.Get("Access-Control-Allow-Origin") != "https://crm.example.com" {
		t.Fatalf("create from the allowed origin: %d, Location %q, allow-origin %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"Location", "Idempotency-Key", "ETag", "Allow", "Retry-After"} {
		if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), want) {
			t.Errorf("exposed headers %q, want %s among them", resp.Header.Get("Access-Control-Expose-Headers"), want)
		}
	}
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %v, want Origin (answers differ by origin)", resp.Header.Values("Vary"))
	}

	// Another origin: its preflight is refused in the API's error shape,
	// and its requests carry no CORS headers, so the browser withholds them.
	resp, body := send(allowOne.URL, "OPTIONS", "/v1/conversations", "https://evil.example", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" || errorCode([]byte(body)) != "forbidden" {
		t.Errorf("preflight from another origin: %d %q %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
	resp, _ = send(allowOne.URL, "GET", "/v1/conversations", "https://evil.example", "Authorization", "Bearer "+h.Tokens["u-sam"])
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("request from another origin got CORS headers: %v", resp.Header)
	}

	// "*" allows any origin, as the CDK stack's default does.
	resp, _ = send(allowAny.URL, "OPTIONS", "/v1/conversations", "http://localhost:5173", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight with *: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Without Origin (curl, server to server) nothing changes.
	resp, _ = send(allowOne.URL, "GET", "/v1/conversations", "", "Authorization", "Bearer "+h.Tokens["u-sam"])
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no Origin: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}
