package main

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/scripts/lambdaharness"
)

func TestRunBuildsZipsAndSkipsFiles(t *testing.T) {
	out := t.TempDir()
	stray := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(stray, []byte("not a function"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	// The host target keeps the test fast on a cold cache; the deploy target
	// is covered by the lambdaharness package's tests.
	if err := run(context.Background(), &stdout, lambdaharness.Host(), out, []string{"../../../hello", stray}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "hello", "bootstrap")); err != nil {
		t.Errorf("bootstrap not built: %v", err)
	}
	zr, err := zip.OpenReader(filepath.Join(out, "hello.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		t.Errorf("zip entries = %v, want just bootstrap", zr.File)
	}
	if !strings.Contains(stdout.String(), "hello ") || strings.Contains(stdout.String(), "README") {
		t.Errorf("table should list hello and only hello:\n%s", stdout.String())
	}
}

func TestRunFailsOnBrokenPackage(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, lambdaharness.Host(), t.TempDir(), []string{t.TempDir()}); err == nil {
		t.Fatal("building a directory without Go files succeeded")
	}
}
