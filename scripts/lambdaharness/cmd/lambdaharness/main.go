// Command lambdaharness proves Lambda binaries start and handle their sample
// events: it builds each function for the host with the deploy flags, runs it
// under the in-repo Runtime API (package lambdaharness), and prints its init
// time and invoke latency next to the hello baseline fed the same events.
//
//	go run ./scripts/lambdaharness/cmd/lambdaharness -fn webhook -fn inbound -env TABLE_NAME=wacrm -n 50
//	go run ./scripts/lambdaharness/cmd/lambdaharness -fn api='events/apigw/api-*.json'
//
// A function is a name under functions/ (hello means scripts/hello) or a
// package directory. Its events are the glob after '=', else -events, else
// the first of these that matches: events/<name>/*.json,
// events/<trigger>/<name>*.json, events/<trigger>/*.json, where the trigger
// is the event source the function is wired to (see triggers).
//
// It exits 1 if a function fails to start, crashes, times out or returns an
// error (unless -allow-errors).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wacrm/wacrm/scripts/lambdaharness"
)

// triggers maps a function to the directory under events/ holding the kind
// of event its trigger delivers.
var triggers = map[string]string{
	"hello":    "apigw",
	"webhook":  "apigw", // API Gateway HTTP API, payload v2
	"api":      "apigw",
	"inbound":  "sqs",
	"send":     "sqs",
	"media":    "sqs",
	"schedule": "sqs",
	"notify":   "dynamodb", // the table's stream
	"push":     "dynamodb",
	"ws":       "apigw", // API Gateway WebSocket API
	"recharge": "dynamodb",
}

const baselineName = "hello"

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type config struct {
	fns         listFlag
	env         listFlag
	events      string
	n           int
	cold        int
	baseline    bool
	bootstrap   string
	timeout     time.Duration
	memoryMB    int
	verbose     bool
	allowErrors bool
}

func main() {
	var c config
	flag.Var(&c.fns, "fn", "function `name[=glob]` to run: a name under functions/ or a package dir (repeatable)")
	flag.Var(&c.env, "env", "`KEY=VALUE` for the functions' environment (repeatable)")
	flag.StringVar(&c.events, "events", "", "`glob` of event files for functions given without one")
	flag.IntVar(&c.n, "n", 50, "invocations per function, cycling through its events")
	flag.IntVar(&c.cold, "cold", 3, "cold starts per function; init is their median")
	flag.BoolVar(&c.baseline, "baseline", true, "also run scripts/hello on each function's events")
	flag.StringVar(&c.bootstrap, "bootstrap", "", "prebuilt host `path` to run instead of building (one -fn only)")
	flag.DurationVar(&c.timeout, "timeout", lambdaharness.DefaultTimeout, "per-invoke timeout")
	flag.IntVar(&c.memoryMB, "memory", lambdaharness.DefaultMemoryMB, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
	flag.BoolVar(&c.verbose, "v", false, "stream the functions' logs to stderr and print every response")
	flag.BoolVar(&c.allowErrors, "allow-errors", false, "exit 0 even when invocations fail")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "lambdaharness: unexpected arguments:", flag.Args())
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ok, err := run(ctx, os.Stdout, os.Stderr, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambdaharness:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// target is one function to measure.
type target struct {
	name   string
	pkg    string
	events []string // file paths
}

func parseTarget(spec, defaultGlob string) (target, error) {
	ref, glob, _ := strings.Cut(spec, "=")
	t := target{name: filepath.Base(filepath.Clean(ref)), pkg: ref}
	switch {
	case ref == baselineName:
		t.pkg = "./scripts/hello"
	case !strings.ContainsAny(ref, `/\`):
		t.pkg = "./functions/" + ref
	case !filepath.IsAbs(ref) && !strings.HasPrefix(ref, "."):
		t.pkg = "./" + filepath.ToSlash(ref)
	}
	if glob == "" {
		glob = defaultGlob
	}
	files, err := eventFiles(t.name, glob)
	if err != nil {
		return target{}, err
	}
	t.events = files
	return t, nil
}

// eventFiles resolves a function's sample events: the glob if given, else
// the conventions in the package comment.
func eventFiles(name, glob string) ([]string, error) {
	candidates := []string{glob}
	if glob == "" {
		candidates = []string{filepath.Join("events", name, "*.json")}
		if trigger, ok := triggers[name]; ok {
			candidates = append(candidates,
				filepath.Join("events", trigger, name+"*.json"),
				filepath.Join("events", trigger, "*.json"))
		}
	}
	for _, pattern := range candidates {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("events for %s: %w", name, err)
		}
		if len(files) > 0 {
			slices.Sort(files)
			return files, nil
		}
	}
	return nil, fmt.Errorf("no sample events for %s (looked for %s); pass -fn %s=GLOB", name, strings.Join(candidates, ", "), name)
}

func readEvents(files []string) ([][]byte, error) {
	events := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read event: %w", err)
		}
		events = append(events, b)
	}
	return events, nil
}

// cycle repeats events to n invocations.
func cycle(events [][]byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = events[i%len(events)]
	}
	return out
}

// measurement is what one function did over one -cold x -n run.
type measurement struct {
	inits     []time.Duration
	latencies []time.Duration
	invokes   int
	failed    []lambdaharness.Invocation
	restarts  int
	initErr   error
	output    []byte
}

func (m measurement) ok() bool { return m.initErr == nil && len(m.failed) == 0 && m.restarts == 0 }

func measure(ctx context.Context, f *lambdaharness.Function, events [][]byte, n, cold int, verbose io.Writer) (measurement, error) {
	var m measurement
	for i := range max(cold, 1) {
		batch := [][]byte(nil)
		if i == 0 {
			batch = cycle(events, n) // later cold starts only time init
		}
		res, err := f.Run(ctx, batch)
		var initErr *lambdaharness.InitError
		switch {
		case errors.As(err, &initErr):
			m.initErr = initErr
			m.output = initErr.Output
			return m, nil
		case err != nil && ctx.Err() != nil:
			return m, err
		case err != nil:
			m.initErr = err
		}
		if res == nil {
			return m, nil
		}
		m.inits = append(m.inits, res.Init)
		m.restarts += res.Restarts
		m.output = res.Output
		for _, inv := range res.Invocations {
			m.invokes++
			if inv.Latency > 0 {
				m.latencies = append(m.latencies, inv.Latency)
			}
			if inv.Err != nil {
				m.failed = append(m.failed, inv)
			}
			if verbose != nil {
				fmt.Fprintf(verbose, "%s %s %v: %s%v\n", f.Name, inv.RequestID, inv.Latency, truncate(inv.Response, 200), errString(inv.Err))
			}
		}
		if m.initErr != nil {
			return m, nil
		}
	}
	return m, nil
}

func errString(fe *lambdaharness.FunctionError) string {
	if fe == nil {
		return ""
	}
	return fe.Error()
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// percentile is the nearest-rank percentile p (0-100) of ds; zero for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.9999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func run(ctx context.Context, stdout, stderr io.Writer, c config) (bool, error) {
	specs := c.fns
	if len(specs) == 0 {
		specs = listFlag{baselineName}
	}
	if c.bootstrap != "" && len(specs) != 1 {
		return false, errors.New("-bootstrap needs exactly one -fn")
	}
	var targets []target
	for _, spec := range specs {
		t, err := parseTarget(spec, c.events)
		if err != nil {
			return false, err
		}
		targets = append(targets, t)
	}

	tmp, err := os.MkdirTemp("", "lambdaharness-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	build := func(t target) (string, error) {
		if c.bootstrap != "" && t.name != baselineName {
			return c.bootstrap, nil
		}
		return lambdaharness.BuildHost(ctx, t.pkg, filepath.Join(tmp, t.name))
	}
	var logs io.Writer
	if c.verbose {
		logs = stderr
	}
	newFunction := func(name, bootstrap string) *lambdaharness.Function {
		return &lambdaharness.Function{
			Bootstrap: bootstrap, Name: name, Env: c.env,
			MemoryMB: c.memoryMB, Timeout: c.timeout, Output: logs,
		}
	}

	var baseline string
	if c.baseline {
		if baseline, err = build(target{name: baselineName, pkg: "./scripts/hello"}); err != nil {
			return false, err
		}
	}

	type row struct {
		t        target
		fn, base measurement
	}
	var rows []row
	for _, t := range targets {
		bootstrap, err := build(t)
		if err != nil {
			return false, err
		}
		events, err := readEvents(t.events)
		if err != nil {
			return false, err
		}
		r := row{t: t}
		if r.fn, err = measure(ctx, newFunction(t.name, bootstrap), events, c.n, c.cold, logs); err != nil {
			return false, err
		}
		if c.baseline && t.name != baselineName {
			if r.base, err = measure(ctx, newFunction(baselineName, baseline), events, c.n, c.cold, logs); err != nil {
				return false, err
			}
		}
		rows = append(rows, r)
	}

	// The baseline columns are empty when hello is all there is.
	c.baseline = c.baseline && slices.ContainsFunc(targets, func(t target) bool { return t.name != baselineName })
	fmt.Fprintf(stdout, "host %s, %d cold starts and %d invocations per function (init: median of cold starts; latency: event handed out to answer received)\n\n",
		lambdaharness.Host(), max(c.cold, 1), c.n)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "function\tevents\tinvokes\tfailed\tinit\tp50\tp99")
	if c.baseline {
		fmt.Fprint(tw, "\t| hello init\thello p50\thello p99")
	}
	fmt.Fprintln(tw, "\t")
	allOK := true
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s", r.t.name, len(r.t.events), figures(r.fn))
		if c.baseline && r.t.name != baselineName {
			fmt.Fprintf(tw, "\t| %s\t%s\t%s", dur(percentile(r.base.inits, 50)), dur(percentile(r.base.latencies, 50)), dur(percentile(r.base.latencies, 99)))
		}
		fmt.Fprintln(tw, "\t")
		allOK = allOK && r.fn.ok() && (r.t.name == baselineName || !c.baseline || r.base.ok())
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}

	for _, r := range rows {
		report(stdout, r.t.name, r.fn)
		if c.baseline && r.t.name != baselineName {
			report(stdout, baselineName+" on "+r.t.name+"'s events", r.base)
		}
	}
	if !allOK && c.allowErrors {
		fmt.Fprintln(stdout, "\nfailures allowed (-allow-errors)")
		return true, nil
	}
	return allOK, nil
}

func figures(m measurement) string {
	if m.initErr != nil && len(m.inits) == 0 {
		return "-\t-\tINIT FAILED\t-\t-"
	}
	return fmt.Sprintf("%d\t%d\t%s\t%s\t%s", m.invokes, len(m.failed), dur(percentile(m.inits, 50)),
		dur(percentile(m.latencies, 50)), dur(percentile(m.latencies, 99)))
}

// report explains a failure: the init error with the log tail, or the first
// few failed invocations.
func report(w io.Writer, name string, m measurement) {
	if m.ok() {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", name)
	if m.initErr != nil {
		fmt.Fprintf(w, "  %v\n", indent(m.initErr.Error()))
	}
	if m.restarts > 0 {
		fmt.Fprintf(w, "  %d cold restarts after crashes or timeouts\n", m.restarts)
	}
	for i, inv := range m.failed {
		if i == 3 {
			fmt.Fprintf(w, "  ... and %d more failed invocations\n", len(m.failed)-i)
			break
		}
		fmt.Fprintf(w, "  event %s: %v\n", truncate(compact(inv.Event), 120), inv.Err)
	}
	if len(m.failed) > 0 || m.restarts > 0 {
		if tail := strings.TrimSpace(lastLines(string(m.output), 10)); tail != "" {
			fmt.Fprintf(w, "  last output:\n    %s\n", indent(tail))
		}
	}
}

func compact(b []byte) []byte {
	return []byte(strings.Join(strings.Fields(string(b)), " "))
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// dur prints a duration with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
