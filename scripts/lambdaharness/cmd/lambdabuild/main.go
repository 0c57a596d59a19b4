// Command lambdabuild builds Lambda deployment packages: for each package
// directory it compiles OUT/<name>/bootstrap for linux/ARCH with the deploy
// flags, zips it to OUT/<name>.zip (bootstrap at the root, fixed timestamps,
// so the same binary gives the same zip), and prints a table of sizes.
//
//	go run ./scripts/lambdaharness/cmd/lambdabuild [-arch arm64] [-out dist] ./functions/webhook ./scripts/hello
//
// It needs nothing but Go: no zip binary.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/wacrm/wacrm/scripts/lambdaharness"
)

func main() {
	arch := flag.String("arch", lambdaharness.Deploy.GOARCH, "GOARCH to build for (GOOS is always linux)")
	out := flag.String("out", "dist", "directory for <name>/bootstrap and <name>.zip")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: lambdabuild [-arch arm64] [-out dist] package-dir...\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, lambdaharness.Target{GOOS: "linux", GOARCH: *arch}, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "lambdabuild:", err)
		os.Exit(1)
	}
}

type artefact struct {
	name      string
	binBytes  int64
	zipBytes  int64
	zipSHA256 string
}

func run(ctx context.Context, stdout io.Writer, target lambdaharness.Target, out string, dirs []string) error {
	var built []artefact
	for _, dir := range dirs {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			// functions/* may hold a stray file; only directories are functions.
			fmt.Fprintf(os.Stderr, "lambdabuild: skipping %s: not a directory\n", dir)
			continue
		}
		name := filepath.Base(filepath.Clean(dir))
		pkg := filepath.ToSlash(filepath.Clean(dir))
		if !filepath.IsAbs(dir) && !strings.HasPrefix(pkg, ".") {
			pkg = "./" + pkg // a directory, not an import path
		}
		bin, err := lambdaharness.Build(ctx, pkg, target, filepath.Join(out, name))
		if err != nil {
			return err
		}
		zipPath := filepath.Join(out, name+".zip")
		if err := lambdaharness.Zip(bin, zipPath); err != nil {
			return err
		}
		a, err := describe(name, bin, zipPath)
		if err != nil {
			return err
		}
		built = append(built, a)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "function\tbootstrap (%s)\tzip\tzip sha256\t\n", target)
	for _, a := range built {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", a.name, size(a.binBytes), size(a.zipBytes), a.zipSHA256)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "zips in %s/\n", out)
	return nil
}

func describe(name, bin, zipPath string) (artefact, error) {
	bi, err := os.Stat(bin)
	if err != nil {
		return artefact{}, err
	}
	z, err := os.ReadFile(zipPath)
	if err != nil {
		return artefact{}, err
	}
	sum := sha256.Sum256(z)
	return artefact{name: name, binBytes: bi.Size(), zipBytes: int64(len(z)), zipSHA256: hex.EncodeToString(sum[:])[:16]}, nil
}

// size prints bytes exactly and in MiB, so tables compare at a glance and diff exactly.
func size(n int64) string {
	return fmt.Sprintf("%d B (%.2f MiB)", n, float64(n)/(1<<20))
}
