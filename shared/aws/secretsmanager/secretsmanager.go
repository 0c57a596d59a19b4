// Package secretsmanager is the secrets port on AWS Secrets Manager: one
// secret per name, holding the value as its SecretString.
//
// Naming. Port names are path-like ("tokens/int_123"). A Store keeps a name
// under the deployment's prefix, and when the prefix already ends with the
// name's first segment that segment is not repeated. So with the stack's
// WACRM_TOKEN_SECRET_PREFIX "wacrm/prod/tokens/", "tokens/int_123" is the
// secret "wacrm/prod/tokens/int_123", the name the stack's grants cover
// (<prefix><integration id>); a prefix of "wacrm/prod/" gives the same name.
//
// Permissions: Put needs secretsmanager:PutSecretValue and, for a name seen
// for the first time, secretsmanager:CreateSecret; Get needs
// secretsmanager:GetSecretValue.
package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/wacrm/wacrm/shared/secrets"
)

// Store implements secrets.Store on Secrets Manager.
type Store struct {
	client *secretsmanager.Client
	prefix string
}

var _ secrets.Store = (*Store)(nil)

// New returns a store keeping names under prefix (see the package doc).
func New(client *secretsmanager.Client, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

// maxNameLen is Secrets Manager's limit on a secret name.
const maxNameLen = 512

// SecretName is the Secrets Manager name name is kept under.
func (s *Store) SecretName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "//") ||
		strings.ContainsFunc(name, func(r rune) bool { return !validNameRune(r) }) {
		return "", fmt.Errorf("invalid secret name %q: want letters, digits and /_+=.@- only", name)
	}
	full := s.prefix + name
	if first, rest, ok := strings.Cut(name, "/"); ok && strings.HasSuffix(s.prefix, first+"/") &&
		(len(s.prefix) == len(first)+1 || s.prefix[len(s.prefix)-len(first)-2] == '/') {
		full = s.prefix + rest
	}
	if len(full) > maxNameLen {
		return "", fmt.Errorf("secret name %q is longer than %d characters", full, maxNameLen)
	}
	return full, nil
}

// validNameRune reports whether Secrets Manager accepts r in a name.
func validNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+=.@-", r)
}

// Put stores value as the secret's current version: PutSecretValue, or
// CreateSecret when the secret does not exist yet.
func (s *Store) Put(ctx context.Context, name, value string) error {
	id, err := s.SecretName(name)
	if err != nil {
		return err
	}
	err = s.putValue(ctx, id, value)
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		return err
	}
	_, err = s.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(id),
		SecretString: aws.String(value),
		Description:  aws.String("wacrm: " + name),
	})
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		// Created by a concurrent Put since ours found nothing: ours becomes
		// the newer version.
		return s.putValue(ctx, id, value)
	}
	if err != nil {
		return fmt.Errorf("create secret %s: %w", id, err)
	}
	return nil
}

func (s *Store) putValue(ctx context.Context, id, value string) error {
	_, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(id),
		SecretString: aws.String(value),
	})
	if err != nil {
		return fmt.Errorf("put secret value %s: %w", id, err)
	}
	return nil
}

// Get returns the secret's current value, or secrets.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (string, error) {
	id, err := s.SecretName(name)
	if err != nil {
		return "", err
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return "", fmt.Errorf("get secret %s: %w", id, secrets.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("get secret %s: it holds binary data, not a string", id)
	}
	return *out.SecretString, nil
}
