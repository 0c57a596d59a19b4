package lambdaharness

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Target is the platform a bootstrap is built for.
type Target struct {
	GOOS   string
	GOARCH string
}

// Deploy is the platform the functions run on in AWS (provided.al2023, arm64).
var Deploy = Target{GOOS: "linux", GOARCH: "arm64"}

// Host is the platform of this process: the one a bootstrap must be built
// for to run under the harness.
func Host() Target {
	return Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
}

func (t Target) String() string { return t.GOOS + "/" + t.GOARCH }

// BuildFlags are the go build flags of every bootstrap, deployed or run
// locally, so the harness measures the binary that ships: no RPC mode (the
// provided.al2023 runtime speaks only the Runtime API), no symbol table and
// no DWARF, no build paths.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// Build compiles pkg (an import path, or a directory relative to the working
// directory such as ./functions/webhook) for target as a static executable
// named bootstrap in dir, creating dir if needed, and returns its path.
func Build(ctx context.Context, pkg string, target Target, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	out, err := filepath.Abs(filepath.Join(dir, "bootstrap"))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOOS="+target.GOOS, "GOARCH="+target.GOARCH, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s for %s: %w\n%s", pkg, target, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// BuildHost builds pkg for the host with the deploy flags, so the harness can
// run it. An empty dir means a new temporary directory, which the caller
// removes (tests pass t.TempDir()).
func BuildHost(ctx context.Context, pkg, dir string) (string, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lambdaharness-")
		if err != nil {
			return "", fmt.Errorf("build %s: %w", pkg, err)
		}
		dir = tmp
	}
	return Build(ctx, pkg, Host(), dir)
}

// zipEpoch is the timestamp of every zip entry: fixed, so that the same
// binary always gives the same zip bytes. 1980-01-01 is the earliest time
// the zip format can hold.
var zipEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// Zip writes the Lambda deployment package zipPath holding the file at
// bootstrapPath as an executable entry named bootstrap at the root. The
// output depends only on the binary's bytes.
func Zip(bootstrapPath, zipPath string) error {
	bin, err := os.ReadFile(bootstrapPath)
	if err != nil {
		return fmt.Errorf("zip %s: %w", bootstrapPath, err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: zipEpoch}
	// Lambda executes bootstrap directly: it must carry the executable bit.
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("zip %s: %w", bootstrapPath, err)
	}
	if _, err := w.Write(bin); err != nil {
		return fmt.Errorf("zip %s: %w", bootstrapPath, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip %s: %w", bootstrapPath, err)
	}
	// Write then rename, so a failed build never leaves a truncated zip behind.
	tmp := zipPath + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", zipPath, err)
	}
	if err := os.Rename(tmp, zipPath); err != nil {
		return fmt.Errorf("write %s: %w", zipPath, err)
	}
	return nil
}
