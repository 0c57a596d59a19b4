// Package ids makes identifiers (random ones for new objects, derived ones
// where the same input must always give the same id) and is the one place
// that decides which ids may go into a storage key.
//
// The alphabet: an id is 1 to MaxLen characters, each an ASCII letter or
// digit or one of - _ . : @ | + =. It has no '#' (the table's key
// separator), no '/' (the blob store's), no space, control character or
// non-ASCII character, so an id can never make a key that reads as another
// org's. It covers the ids wacrm makes (conv_8x…), identity providers'
// user ids (UUIDs, auth0|…, e-mail addresses) and Meta's ids (digits,
// BSUIDs such as US.1349…, wamid.HBgL…= in base64 of letters and digits).
// Anything else is refused where it enters: a 401 for a token's org or
// user, a 400 for a path, query or body, and for a webhook the message is
// counted and kept under malformed/ rather than stored.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
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

// MaxLen is the longest id accepted, in bytes (all characters are ASCII).
const MaxLen = 200

// Punctuation is the alphabet's characters besides ASCII letters and digits.
const Punctuation = "-_.:@|+="

// ErrInvalid is wrapped by Check's errors.
var ErrInvalid = errors.New("invalid id")

var allowed = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range Punctuation {
		t[c] = true
	}
	return t
}()

// Valid reports whether s is an id of the alphabet.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !allowed[s[i]] {
			return false
		}
	}
	return true
}

// Check returns nil for a valid id, else an error wrapping ErrInvalid that
// names what the id is (kind, e.g. "org") and why it was refused, without
// repeating a value that may hold control characters.
func Check(kind, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, kind)
	case len(s) > MaxLen:
		return fmt.Errorf("%w: %s is %d bytes long, at most %d", ErrInvalid, kind, len(s), MaxLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !allowed[c] {
			what := fmt.Sprintf("%q", c)
			switch {
			case c < 0x20 || c == 0x7f:
				what = "a control character"
			case c >= 0x80:
				what = "a non-ASCII character"
			}
			return fmt.Errorf("%w: %s holds %s at byte %d (allowed: letters, digits and %s)", ErrInvalid, kind, what, i, Punctuation)
		}
	}
	return nil
}
