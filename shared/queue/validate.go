package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidMessage is wrapped by Validate's errors: SQS would refuse the
// message, so every implementation refuses it too (the embedded queue must
// not accept what production rejects).
var ErrInvalidMessage = errors.New("invalid queue message")

// Limits SQS enforces on a message, shared by every implementation.
const (
	MaxDelay        = 15 * time.Minute
	MaxAttributes   = 10
	MaxMessageBytes = 256 * 1024 // body plus attribute names, types and values
)

// Validate reports whether SQS would accept msg: a non-empty body of
// characters XML allows, at most MaxAttributes attributes with valid names
// and non-empty values, a delay within [0, MaxDelay], and at most
// MaxMessageBytes in all. Bodies that fail only on size or characters can
// still travel through a ClaimCheck.
func Validate(msg Outgoing) error {
	if len(msg.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalidMessage)
	}
	if !msg.textChecked && !ValidText(msg.Body) {
		return fmt.Errorf("%w: body is not valid UTF-8 or holds characters SQS refuses", ErrInvalidMessage)
	}
	if msg.Delay < 0 || msg.Delay > MaxDelay {
		return fmt.Errorf("%w: delay %s outside [0, %s]", ErrInvalidMessage, msg.Delay, MaxDelay)
	}
	if len(msg.Attributes) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrInvalidMessage, len(msg.Attributes), MaxAttributes)
	}
	for name, value := range msg.Attributes {
		if err := validAttributeName(name); err != nil {
			return fmt.Errorf("%w: attribute %q: %v", ErrInvalidMessage, name, err)
		}
		if value == "" {
			return fmt.Errorf("%w: attribute %q has an empty value", ErrInvalidMessage, name)
		}
		if !ValidText([]byte(value)) {
			return fmt.Errorf("%w: attribute %q value holds characters SQS refuses", ErrInvalidMessage, name)
		}
	}
	if n := MessageSize(msg); n > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidMessage, n, MaxMessageBytes)
	}
	return nil
}

// MessageSize is the size SQS counts against its limit: the body plus each
// attribute's name, data type ("String") and value.
func MessageSize(msg Outgoing) int {
	n := len(msg.Body)
	for name, value := range msg.Attributes {
		n += len(name) + len("String") + len(value)
	}
	return n
}

// ValidText reports whether b is UTF-8 made only of the characters SQS
// accepts: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func ValidText(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		switch {
		case r == 0x9, r == 0xA, r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		b = b[size:]
	}
	return true
}

// validAttributeName follows SQS: 1-256 characters of A-Z a-z 0-9 _ - .,
// no leading or trailing period, no "..", no AWS./Amazon. prefix.
func validAttributeName(name string) error {
	if name == "" || len(name) > 256 {
		return errors.New("name must be 1-256 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("character %q not allowed in a name", r)
		}
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return errors.New("name must not start or end with a period or hold two in a row")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return errors.New("name prefixes AWS. and Amazon. are reserved")
	}
	return nil
}
