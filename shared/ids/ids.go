// Package ids makes identifiers: random ones for new objects and derived
// ones where the same input must always give the same id (idempotent creates).
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns prefix + "_" + 20 random characters (100 bits).
func New(prefix string) string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + "_" + enc.EncodeToString(b[:])[:20]
}

// Derive returns prefix + "_" + 20 characters of a hash of parts, so the
// same parts always give the same id.
func Derive(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + "_" + enc.EncodeToString(h[:13])[:20]
}
