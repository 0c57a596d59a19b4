package auth

import (
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func testIssuer() *HMACIssuer {
	return &HMACIssuer{Issuer: "http://127.0.0.1:8080", Audience: "wacrm-local", Key: testKey, Now: func() time.Time { return t0 }}
}

func authenticate(h *HMACIssuer, header string) (Principal, error) {
	r := httptest.NewRequest("GET", "/v1/conversations", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return h.Authenticate(r)
}

func TestIssueThenAuthenticateRoundTrips(t *testing.T) {
	for _, claims := range []Claims{{}, {Org: "tenant", Groups: "groups", Roles: "roles"}} {
		h := testIssuer()
		h.Claims = claims
		want := Principal{UserID: "u-1", Org: "acme", Name: "Ana", Email: "ana@example.com", Groups: []string{"sales", "admin"}, Roles: []string{"agent"}}
		tok, err := h.Issue(want, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, err := authenticate(h, "Bearer "+tok)
		if err != nil {
			t.Fatalf("claims %+v: %v", claims, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("claims %+v: got %+v, want %+v", claims, got, want)
		}
	}
}

// sign makes a token with the given claims, as a forger or another issuer would.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticateRefuses(t *testing.T) {
	h := testIssuer()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": h.Issuer, "aud": h.Audience, "sub": "u-1", "custom:org": "acme",
			"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	good := sign(t, jwt.SigningMethodHS256, testKey, valid())
	if _, err := authenticate(h, "Bearer "+good); err != nil {
		t.Fatalf("the valid token of this table is refused: %v", err)
	}
	tests := []struct {
		name   string
		header string
		noTok  bool // refused as ErrNoToken
	}{
		{name: "no header", header: "", noTok: true},
		{name: "basic auth", header: "Basic dXNlcjpwYXNz", noTok: true},
		{name: "empty bearer", header: "Bearer ", noTok: true},
		{name: "lower-case scheme without token", header: "bearer", noTok: true},
		{name: "garbage", header: "Bearer not.a.token"},
		{name: "wrong key", header: "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another key, another issuer....."), valid())},
		{name: "alg none", header: "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())},
		{name: "HS512", header: "Bearer " + sign(t, jwt.SigningMethodHS512, testKey, valid())},
		{name: "expired", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("exp", t0.Add(-time.Second).Unix()))},
		{name: "no expiry", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("exp", nil))},
		{name: "not yet valid", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("nbf", t0.Add(time.Hour).Unix()))},
		{name: "other issuer", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("iss", "https://evil.example"))},
		{name: "other audience", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("aud", "another-app"))},
		{name: "no sub", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("sub", nil))},
		{name: "no org", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("custom:org", nil))},
		{name: "org not a string", header: "Bearer " + sign(t, jwt.SigningMethodHS256, testKey, with("custom:org", 42))},
		{name: "tampered payload", header: "Bearer " + tamper(good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := authenticate(h, tt.header)
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			if got := errors.Is(err, ErrNoToken); got != tt.noTok {
				t.Errorf("err %v: ErrNoToken %v, want %v", err, got, tt.noTok)
			}
			if !reflect.DeepEqual(p, Principal{}) {
				t.Errorf("refused token still yields principal %+v", p)
			}
		})
	}
}

// tamper swaps the payload of a signed token for another org's.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	c := jwt.MapClaims{"iss": "x", "sub": "u-1", "custom:org": "other-org", "exp": t0.Add(time.Hour).Unix()}
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("k"))
	parts[1] = strings.Split(other, ".")[1]
	return strings.Join(parts, ".")
}

func TestBearerToken(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer abc.def.ghi")
	if tok, err := BearerToken(r); err != nil || tok != "abc.def.ghi" {
		t.Errorf("got %q %v", tok, err)
	}
}
