// Package lambdaharness runs a built Lambda bootstrap the way the Lambda
// service does, on one machine: it serves the Runtime API (2018-06-01) on
// loopback, starts the executable with the Lambda environment, hands it
// events one at a time and collects what it answers. It measures init
// (process start to the first GET /next) and invoke latency (event handed out
// to answer received).
//
// The official runtime interface emulator cannot be installed everywhere
// this project builds; this is the part of it the project needs to prove each
// binary starts and handles its sample events. Like Lambda, the harness
// restarts the process (a new cold start) after a crash or a timeout, and
// does not give the function the caller's environment: only the Lambda
// variables and what the caller passes.
package lambdaharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultTimeout is the invoke timeout when Function.Timeout is zero:
	// generous, so a slow CI machine is not mistaken for a slow function.
	DefaultTimeout = 30 * time.Second
	// DefaultInitTimeout is Lambda's limit on the init phase.
	DefaultInitTimeout = 10 * time.Second
	// DefaultMemoryMB is the memory size the function is told it has.
	DefaultMemoryMB = 128
	// DefaultRegion is AWS_REGION unless the caller's env sets it.
	DefaultRegion = "us-east-1"

	outputTailBytes = 64 << 10
	// stopGrace is how long a process has between SIGTERM and SIGKILL, as
	// Lambda gives a function with only internal extensions.
	stopGrace = 500 * time.Millisecond
)

// Function is a bootstrap and how to run it.
type Function struct {
	Bootstrap   string        // path to the executable
	Env         []string      // KEY=VALUE, after (so overriding) the Lambda variables
	Name        string        // AWS_LAMBDA_FUNCTION_NAME; default: the bootstrap's directory name
	MemoryMB    int           // default DefaultMemoryMB
	Timeout     time.Duration // per invoke; default DefaultTimeout
	InitTimeout time.Duration // default DefaultInitTimeout
	Output      io.Writer     // receives the process's stdout and stderr as they come; may be nil
}

// Invocation is one event and what became of it: a Response or an Err.
type Invocation struct {
	RequestID string
	Event     []byte
	Response  []byte
	Err       *FunctionError
	// Latency runs from the event leaving GET /next to the answer arriving;
	// zero if the event never reached the runtime.
	Latency time.Duration
}

// Result is one run of a Function over a list of events.
type Result struct {
	Init        time.Duration // first process start to its first GET /next
	Restarts    int           // cold starts after a crash or a timeout
	Invocations []Invocation  // one per event, in order
	Output      []byte        // the last 64 KiB of the process's stdout and stderr
}

// InitError reports a runtime that never asked for its first event: it
// exited, posted to /init/error, or ran past the init timeout.
type InitError struct {
	Err      *FunctionError // as posted, or Runtime.ExitError / Sandbox.Timedout
	ExitCode int            // -1 unless the process exited by itself
	Output   []byte         // the last 64 KiB of the process's stdout and stderr
}

func (e *InitError) Error() string {
	msg := "init failed: " + e.Err.Error()
	if tail := lastLines(e.Output, 5); len(tail) > 0 {
		msg += "\n" + string(tail)
	}
	return msg
}

// Run runs the bootstrap at bootstrapPath over events with the default
// settings; see Function.Run.
func Run(ctx context.Context, bootstrapPath string, env []string, events [][]byte) (*Result, error) {
	f := &Function{Bootstrap: bootstrapPath, Env: env}
	return f.Run(ctx, events)
}

// Run starts the bootstrap, waits for it to ask for an event, hands it the
// events one at a time and stops it. Function errors, crashes and timeouts
// are recorded in the invocations, not returned. The error is an *InitError
// if the first process fails to start; if a restart fails, the Result so far
// is returned with it.
func (f *Function) Run(ctx context.Context, events [][]byte) (*Result, error) {
	out := &tailBuffer{max: outputTailBytes, tee: f.Output}
	res := &Result{}
	next := 0
	for cold := 0; ; cold++ {
		sb, init, err := f.start(ctx, out)
		if err != nil {
			if cold == 0 {
				return nil, err
			}
			res.Output = out.Bytes()
			return res, fmt.Errorf("cold start after invocation %d: %w", next, err)
		}
		if cold == 0 {
			res.Init = init
		} else {
			res.Restarts++
		}
		served := 0
		for next < len(events) {
			inv, delivered, alive, err := sb.invoke(ctx, events[next], f.timeout())
			if err != nil {
				sb.stop()
				res.Output = out.Bytes()
				return res, err
			}
			// An event the process did not take is retried on a fresh one,
			// as Lambda would, unless a fresh one is what refused it.
			if delivered || served == 0 {
				res.Invocations = append(res.Invocations, inv)
				next++
			}
			if delivered {
				served++
			}
			if !alive {
				break
			}
		}
		sb.stop()
		if next == len(events) {
			res.Output = out.Bytes()
			return res, nil
		}
	}
}

func (f *Function) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultTimeout
}

func (f *Function) initTimeout() time.Duration {
	if f.InitTimeout > 0 {
		return f.InitTimeout
	}
	return DefaultInitTimeout
}

func (f *Function) name() string {
	if f.Name != "" {
		return f.Name
	}
	return filepath.Base(filepath.Dir(f.Bootstrap))
}

func (f *Function) region() string {
	region := DefaultRegion
	for _, kv := range f.Env {
		if v, ok := cutKey(kv, "AWS_REGION"); ok {
			region = v
		}
	}
	return region
}

func cutKey(kv, key string) (string, bool) {
	if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
		return kv[len(key)+1:], true
	}
	return "", false
}

func (f *Function) functionARN() string {
	return "arn:aws:lambda:" + f.region() + ":000000000000:function:" + f.name()
}

// environ is what Lambda sets for a provided.al2023 function, then the
// caller's variables.
func (f *Function) environ(apiAddr, taskRoot string) []string {
	memory := f.MemoryMB
	if memory <= 0 {
		memory = DefaultMemoryMB
	}
	name := f.name()
	region := f.region()
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + apiAddr,
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memory),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + taskRoot,
		"LAMBDA_RUNTIME_DIR=" + taskRoot,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
	return append(env, f.Env...)
}

// sandbox is one process and the Runtime API serving it.
type sandbox struct {
	api     *runtimeAPI
	srv     *http.Server
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// start starts a process and waits until it asks for its first event.
func (f *Function) start(ctx context.Context, out *tailBuffer) (*sandbox, time.Duration, error) {
	bootstrap, err := filepath.Abs(f.Bootstrap)
	if err != nil {
		return nil, 0, fmt.Errorf("bootstrap %s: %w", f.Bootstrap, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, fmt.Errorf("listen for the runtime API: %w", err)
	}
	api := newRuntimeAPI(f.functionARN())
	srv := &http.Server{Handler: api.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // returns when stop closes it

	taskRoot := filepath.Dir(bootstrap)
	cmd := exec.Command(bootstrap)
	cmd.Env = f.environ(ln.Addr().String(), taskRoot)
	cmd.Dir = taskRoot
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = time.Second // do not hang on output pipes a child inherited
	sb := &sandbox{api: api, srv: srv, cmd: cmd, exited: make(chan struct{})}

	started := time.Now()
	if err := cmd.Start(); err != nil {
		api.close()
		_ = srv.Close()
		return nil, 0, fmt.Errorf("start %s: %w", bootstrap, err)
	}
	go func() {
		sb.waitErr = cmd.Wait()
		close(sb.exited)
	}()

	timer := time.NewTimer(f.initTimeout())
	defer timer.Stop()
	select {
	case <-api.ready:
		return sb, api.readyAt.Sub(started), nil
	case fe := <-api.initErr:
		// The runtime should exit now; let it, so its exit code is its own.
		grace := time.NewTimer(stopGrace)
		select {
		case <-sb.exited:
		case <-grace.C:
		}
		grace.Stop()
		sb.stop()
		return nil, 0, &InitError{Err: fe, ExitCode: sb.exitCode(), Output: out.Bytes()}
	case <-sb.exited:
		sb.stop()
		select {
		case fe := <-api.initErr: // posted just before exiting
			return nil, 0, &InitError{Err: fe, ExitCode: sb.exitCode(), Output: out.Bytes()}
		default:
		}
		return nil, 0, &InitError{Err: sb.exitError("Runtime exited before asking for an event"), ExitCode: sb.exitCode(), Output: out.Bytes()}
	case <-timer.C:
		sb.stop()
		return nil, 0, &InitError{
			Err:      &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("init did not finish within %s", f.initTimeout())},
			ExitCode: -1,
			Output:   out.Bytes(),
		}
	case <-ctx.Done():
		sb.stop()
		return nil, 0, ctx.Err()
	}
}

// invoke hands event to the runtime and waits for its answer. delivered says
// whether the runtime took the event; alive whether it can take another.
// err is only ever ctx's.
func (sb *sandbox) invoke(ctx context.Context, event []byte, timeout time.Duration) (inv Invocation, delivered, alive bool, err error) {
	p := newPending(event, timeout)
	inv = Invocation{RequestID: p.id, Event: event}

	// The runtime asks for the next event right after answering the last
	// one, so waiting long here means it is stuck.
	handOut := time.NewTimer(timeout)
	defer handOut.Stop()
	select {
	case sb.api.events <- p:
	case <-sb.exited:
		inv.Err = sb.exitError("Runtime exited before asking for the event")
		return inv, false, false, nil
	case <-handOut.C:
		inv.Err = &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("runtime did not ask for the event within %s", timeout)}
		return inv, false, false, nil
	case <-ctx.Done():
		return inv, false, false, ctx.Err()
	}

	alive = true
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case <-p.done:
	case <-sb.exited:
		// A no-op if the runtime answered before exiting (a panic does both).
		p.finish(nil, sb.exitError("Runtime exited while handling the event"))
		alive = false
	case <-deadline.C:
		if p.finish(nil, &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}) {
			alive = false // Lambda does not reuse a timed-out sandbox
		}
	case <-ctx.Done():
		return inv, true, false, ctx.Err()
	}
	inv.Response, inv.Err, inv.Latency = p.outcome()
	return inv, true, alive, nil
}

// stop ends the process (SIGTERM, then SIGKILL after stopGrace) and the
// Runtime API serving it, and waits for both.
func (sb *sandbox) stop() {
	select {
	case <-sb.exited:
	default:
		if err := sb.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = sb.cmd.Process.Kill()
		}
		grace := time.NewTimer(stopGrace)
		select {
		case <-sb.exited:
		case <-grace.C:
			_ = sb.cmd.Process.Kill()
			<-sb.exited
		}
		grace.Stop()
	}
	sb.api.close()
	_ = sb.srv.Close()
}

// exitError describes the exit the way Lambda reports it; call after exited.
func (sb *sandbox) exitError(what string) *FunctionError {
	status := "exit status 0"
	if sb.waitErr != nil {
		status = sb.waitErr.Error()
	}
	return &FunctionError{Type: "Runtime.ExitError", Message: what + ": " + status}
}

// exitCode is the process's exit code, or -1 if it was killed or still runs.
func (sb *sandbox) exitCode() int {
	select {
	case <-sb.exited:
	default:
		return -1
	}
	var exitErr *exec.ExitError
	if errors.As(sb.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if sb.waitErr == nil {
		return 0
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it, and copies everything to tee.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	tee io.Writer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tee != nil {
		_, _ = b.tee.Write(p) // a broken log sink must not break the function
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// lastLines returns the last n lines of b, without the final newline.
func lastLines(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
