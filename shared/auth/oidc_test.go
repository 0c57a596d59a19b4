package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wacrm/wacrm/shared/auth"
)

// issuerServer is an OpenID Connect issuer on loopback: discovery and a
// JWKS with one RSA key, as Cognito publishes them.
func issuerServer(t *testing.T, key *rsa.PrivateKey) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/.well-known/jwks.json",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	return srv
}

func TestOIDCVerifier(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := issuerServer(t, key)
	now := time.Now()
	sign := func(k *rsa.PrivateKey, mut func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": srv.URL, "aud": "client-1", "sub": "u-sam", "custom:org": "acme",
			"cognito:groups": []string{"sales"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "token_use": "id"}
		if mut != nil {
			mut(c)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v := &auth.OIDCVerifier{Issuer: srv.URL, Audiences: []string{"client-0", "client-1"}}
	p, err := v.Verify(context.Background(), sign(key, nil))
	if err != nil || p.UserID != "u-sam" || p.Org != "acme" || len(p.Groups) != 1 {
		t.Fatalf("valid token: %+v %v", p, err)
	}
	// A Cognito access token names its app client in client_id.
	if _, err := v.Verify(context.Background(), sign(key, func(c jwt.MapClaims) { delete(c, "aud"); c["client_id"] = "client-0" })); err != nil {
		t.Fatalf("access token: %v", err)
	}
	for name, tok := range map[string]string{
		"another audience": sign(key, func(c jwt.MapClaims) { c["aud"] = "client-9" }),
		"another issuer":   sign(key, func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }),
		"expired":          sign(key, func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }),
		"no org":           sign(key, func(c jwt.MapClaims) { delete(c, "custom:org") }),
		"another key":      sign(other, nil),
		"not a token":      "abc.def.ghi",
		"unsigned":         strings.Join(strings.Split(sign(key, nil), ".")[:2], ".") + ".",
	} {
		if p, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}
	// An issuer that cannot be reached fails the call, and is tried again later.
	down := &auth.OIDCVerifier{Issuer: "http://127.0.0.1:1", Audiences: []string{"client-1"}}
	if _, err := down.Verify(context.Background(), sign(key, nil)); err == nil {
		t.Fatal("verified without the issuer's keys")
	}
}
