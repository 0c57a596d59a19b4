package lambdaharness

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	content := []byte("\x7fELF pretend binary, compressible compressible compressible")
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	first, second := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	for _, out := range []string{first, second} {
		if err := Zip(bin, out); err != nil {
			t.Fatal(err)
		}
	}

	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("zipping the same binary twice gave different bytes")
	}

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 {
		t.Fatalf("zip holds %d entries, want 1", len(zr.File))
	}
	f := zr.File[0]
	if f.Name != "bootstrap" {
		t.Errorf("entry name = %q, want bootstrap", f.Name)
	}
	if got := f.Mode().Perm(); got != 0o755 {
		t.Errorf("entry mode = %v, want -rwxr-xr-x", got)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("entry content = %q, want %q", got, content)
	}
}

func TestZipMissingBinary(t *testing.T) {
	dir := t.TempDir()
	if err := Zip(filepath.Join(dir, "nope"), filepath.Join(dir, "x.zip")); err == nil {
		t.Fatal("zipping a missing binary succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.zip")); !os.IsNotExist(err) {
		t.Errorf("a zip was left behind: %v", err)
	}
}

// TestBuildDeployTarget checks the artefact that ships: a static arm64 Linux
// executable without a symbol table.
func TestBuildDeployTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the standard library for arm64 on a cold cache")
	}
	path, err := Build(context.Background(), "github.com/wacrm/wacrm/scripts/hello", Deploy, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "bootstrap" {
		t.Errorf("binary is named %q, want bootstrap", filepath.Base(path))
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("machine = %v, want EM_AARCH64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary asks for a dynamic loader; want a static executable (CGO_ENABLED=0)")
		}
	}
	if _, err := f.Symbols(); err == nil {
		t.Error("binary has a symbol table; want it stripped (-ldflags -s)")
	}
}

func TestBuildReportsCompileErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := BuildHost(context.Background(), src+"/main.go", filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("err = %v, want the compiler's message", err)
	}
}
