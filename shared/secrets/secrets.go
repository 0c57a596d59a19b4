// Package secrets is the port for values that must not sit in the table,
// such as WhatsApp access tokens. Implementations: aws/secretsmanager and
// local/filesecrets.
package secrets

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get for a name that holds nothing.
var ErrNotFound = errors.New("secret not found")

// Store keeps secret strings by name. Names are path-like
// ("tokens/int_123"); implementations may prefix them.
type Store interface {
	Put(ctx context.Context, name, value string) error
	Get(ctx context.Context, name string) (string, error)
}
