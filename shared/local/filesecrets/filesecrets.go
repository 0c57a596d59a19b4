// Package filesecrets keeps secrets as owner-only files under a directory,
// the embedded twin of Secrets Manager for the local stack.
package filesecrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wacrm/wacrm/shared/secrets"
)

// Store implements secrets.Store.
type Store struct{ dir string }

// New returns a store under dir, creating it owner-only.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("invalid secret name %q", name)
	}
	return filepath.Join(s.dir, filepath.FromSlash(name)), nil
}

// Put writes the value atomically.
func (s *Store) Put(_ context.Context, name, value string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(value); err != nil {
		tmp.Close()
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	return nil
}

// Get reads the value, or secrets.ErrNotFound.
func (s *Store) Get(_ context.Context, name string) (string, error) {
	p, err := s.path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("get secret %s: %w", name, secrets.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get secret %s: %w", name, err)
	}
	return string(b), nil
}
