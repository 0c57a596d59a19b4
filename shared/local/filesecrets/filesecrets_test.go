package filesecrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wacrm/wacrm/shared/secrets"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "tokens/int_1"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	for _, v := range []string{"EAAG-first", "EAAG-second ✓"} {
		if err := s.Put(ctx, "tokens/int_1", v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "tokens/int_1")
		if err != nil || got != v {
			t.Fatalf("get = %q, %v; want %q", got, err, v)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "tokens", "int_1"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../b"} {
		if err := s.Put(ctx, bad, "v"); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
}
