package lambdaharness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// helperEnv makes the test binary act as a bootstrap: the tests run it
// through the harness to produce runtimes that misbehave on demand.
const helperEnv = "LAMBDAHARNESS_TEST_BOOTSTRAP"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "exit":
		// What a function does when its configuration is missing.
		fmt.Fprintln(os.Stderr, "config: WACRM_TABLE is not set")
		os.Exit(3)
	case "init-error":
		// What a runtime that follows the spec does on a failed init.
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"errorMessage":"no table","errorType":"Runtime.ConfigError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil && resp.StatusCode == http.StatusAccepted {
			os.Exit(1)
		}
		os.Exit(9)
	case "hang":
		time.Sleep(time.Hour)
	case "lambda":
		lambda.Start(helperHandler)
	}
	os.Exit(8)
}

// helperHandler answers by the event: a string picks a behaviour, an object
// is answered with what the function sees of its environment.
func helperHandler(ctx context.Context, event json.RawMessage) (any, error) {
	var cmd string
	if json.Unmarshal(event, &cmd) != nil {
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		return map[string]string{
			"requestId":   lc.AwsRequestID,
			"functionArn": lc.InvokedFunctionArn,
			"deadlineIn":  time.Until(deadline).Round(time.Second).String(),
			"name":        os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
			"memory":      os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
			"handler":     os.Getenv("_HANDLER"),
			"region":      os.Getenv("AWS_REGION"),
			"custom":      os.Getenv("CUSTOM"),
			"trace":       os.Getenv("_X_AMZN_TRACE_ID"),
			"home":        os.Getenv("HOME"),
		}, nil
	}
	switch cmd {
	case "fail":
		return nil, errors.New("record not found")
	case "panic":
		panic("boom")
	case "exit":
		os.Exit(2)
	case "sleep":
		time.Sleep(time.Hour)
	}
	return "ok " + cmd, nil
}

func helper(t *testing.T, mode string) *Function {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Function{Bootstrap: exe, Name: "helper", Env: []string{helperEnv + "=" + mode}}
}

func events(docs ...string) [][]byte {
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = []byte(d)
	}
	return out
}

func TestRunHello(t *testing.T) {
	ctx := context.Background()
	bootstrap, err := BuildHost(ctx, "github.com/wacrm/wacrm/scripts/hello", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := events(`{"greeting":"hi","n":1}`, `[1,2,3]`, `"text"`, `{not json`)
	res, err := Run(ctx, bootstrap, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Init <= 0 {
		t.Errorf("Init = %v, want > 0", res.Init)
	}
	if res.Restarts != 0 {
		t.Errorf("Restarts = %d, want 0", res.Restarts)
	}
	if got, want := len(res.Invocations), len(in); got != want {
		t.Fatalf("got %d invocations, want %d", got, want)
	}
	for i, inv := range res.Invocations[:3] {
		if inv.Err != nil {
			t.Errorf("invocation %d: unexpected error %v", i, inv.Err)
			continue
		}
		if !bytes.Equal(inv.Response, in[i]) {
			t.Errorf("invocation %d: response %s, want %s", i, inv.Response, in[i])
		}
		if inv.Latency <= 0 {
			t.Errorf("invocation %d: latency %v, want > 0", i, inv.Latency)
		}
	}
	// aws-lambda-go refuses an event that is not JSON; the harness must say so.
	if got := res.Invocations[3].Err; got == nil || got.Type != "SyntaxError" {
		t.Errorf("invalid JSON event: err = %v, want a SyntaxError", got)
	}
}

func TestRunGivesTheLambdaEnvironment(t *testing.T) {
	f := helper(t, "lambda")
	f.Env = append(f.Env, "CUSTOM=yes", "AWS_REGION=eu-west-1")
	f.MemoryMB = 512
	f.Timeout = 7 * time.Second
	res, err := f.Run(context.Background(), events(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	inv := res.Invocations[0]
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	var got map[string]string
	if err := json.Unmarshal(inv.Response, &got); err != nil {
		t.Fatalf("response %s: %v", inv.Response, err)
	}
	want := map[string]string{
		"requestId":   inv.RequestID,
		"functionArn": "arn:aws:lambda:eu-west-1:000000000000:function:helper",
		"deadlineIn":  "7s",
		"name":        "helper",
		"memory":      "512",
		"handler":     "bootstrap",
		"region":      "eu-west-1",
		"custom":      "yes",
		"home":        "", // the caller's environment stays out
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if !strings.HasPrefix(got["trace"], "Root=1-") {
		t.Errorf("trace = %q, want an X-Ray header", got["trace"])
	}
}

func TestRunInitFailure(t *testing.T) {
	tests := []struct {
		mode         string
		wantType     string
		wantExitCode int
		wantInOutput string
	}{
		{mode: "exit", wantType: "Runtime.ExitError", wantExitCode: 3, wantInOutput: "WACRM_TABLE is not set"},
		{mode: "init-error", wantType: "Runtime.ConfigError", wantExitCode: 1},
		{mode: "hang", wantType: "Sandbox.Timedout", wantExitCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			f := helper(t, tt.mode)
			f.InitTimeout = 300 * time.Millisecond
			res, err := f.Run(context.Background(), events(`"a"`))
			var initErr *InitError
			if !errors.As(err, &initErr) {
				t.Fatalf("got result %+v, error %v; want an *InitError", res, err)
			}
			if initErr.Err.Type != tt.wantType {
				t.Errorf("error type = %q, want %q (%v)", initErr.Err.Type, tt.wantType, initErr)
			}
			if initErr.ExitCode != tt.wantExitCode {
				t.Errorf("exit code = %d, want %d", initErr.ExitCode, tt.wantExitCode)
			}
			if !strings.Contains(string(initErr.Output), tt.wantInOutput) {
				t.Errorf("output %q does not contain %q", initErr.Output, tt.wantInOutput)
			}
		})
	}
}

func TestRunInvocationFailures(t *testing.T) {
	f := helper(t, "lambda")
	f.Timeout = 300 * time.Millisecond
	in := events(`"1"`, `"fail"`, `"2"`, `"panic"`, `"3"`, `"exit"`, `"4"`, `"sleep"`, `"5"`)
	res, err := f.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ response, errType string }{
		{response: `"ok 1"`},
		{errType: "errorString"},
		{response: `"ok 2"`},
		{errType: "string"}, // a panic is reported, then the process exits
		{response: `"ok 3"`},
		{errType: "Runtime.ExitError"},
		{response: `"ok 4"`},
		{errType: "Sandbox.Timedout"},
		{response: `"ok 5"`},
	}
	if len(res.Invocations) != len(want) {
		t.Fatalf("got %d invocations, want %d", len(res.Invocations), len(want))
	}
	for i, w := range want {
		inv := res.Invocations[i]
		gotType := ""
		if inv.Err != nil {
			gotType = inv.Err.Type
		}
		if string(inv.Response) != w.response || gotType != w.errType {
			t.Errorf("event %s: got response %s, error %v; want response %s, error type %q",
				in[i], inv.Response, inv.Err, w.response, w.errType)
		}
	}
	if got := res.Invocations[3].Err; got != nil && (got.Message != "boom" || len(got.StackTrace) == 0) {
		t.Errorf("panic error = %+v, want message boom with a stack trace", got)
	}
	if got := res.Invocations[7].Latency; got < f.Timeout {
		t.Errorf("timed-out invocation latency = %v, want >= %v", got, f.Timeout)
	}
	if res.Restarts != 3 {
		t.Errorf("Restarts = %d, want 3 (after panic, exit and timeout)", res.Restarts)
	}
}

func TestRunWithoutEventsMeasuresInit(t *testing.T) {
	res, err := helper(t, "lambda").Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Init <= 0 || len(res.Invocations) != 0 {
		t.Errorf("got Init %v and %d invocations, want Init > 0 and none", res.Init, len(res.Invocations))
	}
}

func TestParseFunctionError(t *testing.T) {
	tests := []struct {
		name       string
		headerType string
		body       string
		want       FunctionError
	}{
		{"document", "Unhandled", `{"errorMessage":"m","errorType":"T"}`, FunctionError{Type: "T", Message: "m"}},
		{"type from header", "Unhandled", `{"errorMessage":"m"}`, FunctionError{Type: "Unhandled", Message: "m"}},
		{"not JSON", "", `plain words`, FunctionError{Type: "Unknown", Message: "plain words"}},
		{"unrelated JSON", "X", `{"a":1}`, FunctionError{Type: "X", Message: `{"a":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseFunctionError(tt.headerType, []byte(tt.body))
			if got.Type != tt.want.Type || got.Message != tt.want.Message {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := string(lastLines([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// BenchmarkInvokeHello measures one warm invocation of the hello baseline
// through the harness: the Runtime API round trip every function pays.
func BenchmarkInvokeHello(b *testing.B) {
	ctx := context.Background()
	bootstrap, err := BuildHost(ctx, "github.com/wacrm/wacrm/scripts/hello", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	in := make([][]byte, b.N)
	for i := range in {
		in[i] = []byte(`{"greeting":"hi"}`)
	}
	b.ResetTimer()
	res, err := Run(ctx, bootstrap, nil, in)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var total time.Duration
	for _, inv := range res.Invocations {
		if inv.Err != nil {
			b.Fatal(inv.Err)
		}
		total += inv.Latency
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-latency/op")
}
