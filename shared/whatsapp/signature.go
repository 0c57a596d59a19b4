package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// SignatureHeader is the header Meta signs every webhook POST with.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Errors returned by VerifySignature and VerifyHandshake.
var (
	ErrSignatureMissing = errors.New("webhook signature header missing")
	ErrSignatureInvalid = errors.New("webhook signature invalid")
	ErrNoAppSecret      = errors.New("no app secret configured")
	ErrHandshake        = errors.New("webhook verification handshake refused")
)

// Sign returns the X-Hub-Signature-256 value Meta sends for body:
// "sha256=" followed by the hex HMAC-SHA256 of the raw bytes keyed with the app secret.
func Sign(appSecret, body []byte) string {
	mac := hmac.New(sha256.New, appSecret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks header ("sha256=<hex>") against the HMAC-SHA256 of
// the raw body bytes, in constant time. Verify the bytes exactly as received:
// Meta escapes unicode (\u00e9) and slashes, so re-serialised JSON never
// matches. It returns ErrSignatureMissing for an empty header and an error
// wrapping ErrSignatureInvalid for anything else that does not match.
func VerifySignature(appSecret, body []byte, header string) error {
	if len(appSecret) == 0 {
		return ErrNoAppSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("%w: no %q prefix", ErrSignatureInvalid, signaturePrefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrSignatureInvalid)
	}
	if len(got) != sha256.Size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrSignatureInvalid, len(got), sha256.Size)
	}
	mac := hmac.New(sha256.New, appSecret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrSignatureInvalid
	}
	return nil
}

// VerifyHandshake answers Meta's GET verification request: when hub.mode is
// "subscribe" and hub.verify_token equals verifyToken (compared in constant
// time) it returns hub.challenge, to be echoed as the response body with 200;
// otherwise ErrHandshake (answer 403).
func VerifyHandshake(q url.Values, verifyToken string) (challenge string, err error) {
	if verifyToken == "" {
		return "", fmt.Errorf("%w: no verify token configured", ErrHandshake)
	}
	if q.Get("hub.mode") != "subscribe" {
		return "", fmt.Errorf("%w: hub.mode %q", ErrHandshake, q.Get("hub.mode"))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", fmt.Errorf("%w: verify token mismatch", ErrHandshake)
	}
	challenge = q.Get("hub.challenge")
	if challenge == "" {
		return "", fmt.Errorf("%w: no hub.challenge", ErrHandshake)
	}
	return challenge, nil
}
