package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/httpapi"
)

// openAPITools returns the directory of the npm tools' bin links that
// scripts/testenv/openapi.sh installs (make test), skipping the test
// without them, or failing under WACRM_REQUIRE_SERVERS=1.
func openAPITools(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WACRM_TEST_OPENAPI_TOOLS")
	if dir == "" {
		if os.Getenv("WACRM_REQUIRE_SERVERS") == "1" {
			t.Fatal("WACRM_TEST_OPENAPI_TOOLS is not set: scripts/testenv/openapi.sh should have installed the OpenAPI tools")
		}
		t.Skip("WACRM_TEST_OPENAPI_TOOLS not set; run under scripts/testenv/run.sh (make test)")
	}
	return dir
}

// startTool starts one of the npm tools in dir; wait returns its output,
// failing the test with it when the tool fails.
func startTool(t *testing.T, dir string, name string, args ...string) (wait func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, filepath.Join(openAPITools(t), name), args...)
	cmd.Dir = dir
	// No update checks or telemetry: the tests talk to nothing outside.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	return func() string {
		t.Helper()
		defer cancel()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
}

// TestOpenAPIGeneratesClient: the document a client downloads generates
// TypeScript types (openapi-typescript) that a small client
// (testdata/openapi-client/client.ts: list, open, reply) type-checks
// against under strict settings without a cast, and it passes Redocly's
// recommended rules without an error.
func TestOpenAPIGeneratesClient(t *testing.T) {
	openAPITools(t)
	if backend != "bolt" {
		t.Skip("the document does not depend on the table; checked once")
	}
	h := newHarness(t, nil)
	srv := newOpenAPIServer(t, h)
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"client.ts", "tsconfig.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "openapi-client", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The lint runs beside the generation and the type check.
	lint := startTool(t, dir, "redocly", "lint", "--extends=recommended", "--format=json", "openapi.json")
	startTool(t, dir, "openapi-typescript", "openapi.json", "-o", "api.ts")()
	startTool(t, dir, "tsc", "-p", "tsconfig.json")()

	out := lint()
	var report struct {
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	start := strings.Index(out, "{")
	if start < 0 {
		t.Fatalf("redocly printed no report:\n%s", out)
	}
	if err := json.NewDecoder(strings.NewReader(out[start:])).Decode(&report); err != nil { // the summary follows the JSON
		t.Fatalf("redocly report: %v\n%s", err, out)
	}
	for _, p := range report.Problems {
		if p.Severity == "error" {
			t.Errorf("redocly %s: %s at %v", p.RuleID, p.Message, p.Location)
		}
	}
}

// TestOpenAPINoSiblingsOfRef: a schema that is a $ref has nothing beside it
// but a description (OpenAPI 3.1 allows summary and description there;
// generators drop anything else, so a page's narrowed items would be lost).
func TestOpenAPINoSiblingsOfRef(t *testing.T) {
	var doc any
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(pointer string, v any)
	walk = func(pointer string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				for k := range v {
					if k != "$ref" && k != "description" && k != "summary" {
						t.Errorf("%s: %q beside $ref", pointer, k)
					}
				}
			}
			for k, e := range v {
				walk(pointer+"/"+escapePointer(k), e)
			}
		case []any:
			for i, e := range v {
				walk(pointer+"/"+itoa(int64(i)), e)
			}
		}
	}
	walk("", doc)
}
