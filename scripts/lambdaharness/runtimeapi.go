package lambdaharness

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Runtime API 2018-06-01, as documented at
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMs  = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	// aws-lambda-go sends these as trailers when the response body fails
	// while streaming.
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"

	// maxPayloadBytes is Lambda's limit on a synchronous response.
	maxPayloadBytes = 6 << 20
)

// FunctionError is an error document as the runtime posts it to /error or
// /init/error, or one the harness makes up the way Lambda does (a crash is
// Runtime.ExitError, a timeout Sandbox.Timedout).
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// parseFunctionError reads an error document leniently: a runtime may post
// any bytes, and then they are the message.
func parseFunctionError(headerType string, body []byte) *FunctionError {
	var fe FunctionError
	if err := json.Unmarshal(body, &fe); err != nil || (fe.Type == "" && fe.Message == "") {
		fe = FunctionError{Message: string(body)}
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Unknown"
	}
	return &fe
}

// pending is one event on its way through the runtime. The first finish wins:
// the runtime's answer, or the harness giving up (crash, timeout).
type pending struct {
	id      string
	event   []byte
	timeout time.Duration
	done    chan struct{}

	mu        sync.Mutex
	handedOut time.Time
	finished  bool
	doneAt    time.Time
	response  []byte
	err       *FunctionError
}

func newPending(event []byte, timeout time.Duration) *pending {
	return &pending{id: newRequestID(), event: event, timeout: timeout, done: make(chan struct{})}
}

func (p *pending) handOut() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handedOut = time.Now()
	return p.handedOut
}

func (p *pending) finish(response []byte, fe *FunctionError) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return false
	}
	p.finished, p.doneAt, p.response, p.err = true, time.Now(), response, fe
	close(p.done)
	return true
}

// outcome reads what finished p; call it after p.done is closed.
func (p *pending) outcome() (response []byte, fe *FunctionError, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.handedOut.IsZero() {
		latency = p.doneAt.Sub(p.handedOut)
	}
	return p.response, p.err, latency
}

// runtimeAPI serves one runtime process for its whole life. A restarted
// process gets a new runtimeAPI on a new port, so nothing a dead process left
// in flight can take an event meant for its successor.
type runtimeAPI struct {
	functionARN string
	events      chan *pending       // unbuffered: an event moves only to a waiting /next
	initErr     chan *FunctionError // buffered(1): the first /init/error
	ready       chan struct{}       // closed at the first /next: init is over
	readyOnce   sync.Once
	readyAt     time.Time // written before ready is closed
	closed      chan struct{}
	closeOnce   sync.Once

	mu       sync.Mutex
	inflight map[string]*pending
}

func newRuntimeAPI(functionARN string) *runtimeAPI {
	return &runtimeAPI{
		functionARN: functionARN,
		events:      make(chan *pending),
		initErr:     make(chan *FunctionError, 1),
		ready:       make(chan struct{}),
		closed:      make(chan struct{}),
		inflight:    make(map[string]*pending),
	}
}

func (a *runtimeAPI) close() { a.closeOnce.Do(func() { close(a.closed) }) }

func (a *runtimeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.handleInvocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", a.handleInitError)
	return mux
}

func (a *runtimeAPI) handleNext(w http.ResponseWriter, r *http.Request) {
	a.readyOnce.Do(func() {
		a.readyAt = time.Now()
		close(a.ready)
	})
	var p *pending
	select {
	case p = <-a.events:
	case <-r.Context().Done():
		return
	case <-a.closed:
		return
	}
	a.mu.Lock()
	a.inflight[p.id] = p
	a.mu.Unlock()

	h := w.Header()
	h.Set(headerRequestID, p.id)
	h.Set(headerFunctionARN, a.functionARN)
	h.Set(headerTraceID, newTraceID())
	h.Set("Content-Type", "application/json")
	handedOut := p.handOut()
	h.Set(headerDeadlineMs, strconv.FormatInt(handedOut.Add(p.timeout).UnixMilli(), 10))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(p.event) // a runtime that hung up is seen by the driver as an exit
}

func (a *runtimeAPI) handleResponse(w http.ResponseWriter, r *http.Request) {
	p, ok := a.lookup(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes+1))
	switch {
	case err != nil:
		p.finish(nil, &FunctionError{Type: "Runtime.InvalidResponse", Message: fmt.Sprintf("read response: %v", err)})
		writeAPIError(w, http.StatusBadRequest, "InvalidResponse", err.Error())
		return
	case len(body) > maxPayloadBytes:
		p.finish(nil, &FunctionError{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("response payload size exceeded maximum allowed payload size (%d bytes)", maxPayloadBytes)})
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response too large")
		return
	}
	if errType := r.Trailer.Get(trailerErrorType); errType != "" {
		// The function failed while streaming its response.
		doc, _ := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		a.accept(w, p, nil, parseFunctionError(errType, doc))
		return
	}
	a.accept(w, p, body, nil)
}

func (a *runtimeAPI) handleInvocationError(w http.ResponseWriter, r *http.Request) {
	p, ok := a.lookup(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes))
	if err != nil {
		p.finish(nil, &FunctionError{Type: "Runtime.InvalidResponse", Message: fmt.Sprintf("read error document: %v", err)})
		writeAPIError(w, http.StatusBadRequest, "InvalidResponse", err.Error())
		return
	}
	a.accept(w, p, nil, parseFunctionError(r.Header.Get(headerErrorType), body))
}

func (a *runtimeAPI) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	select {
	case a.initErr <- parseFunctionError(r.Header.Get(headerErrorType), body):
	default: // only the first report counts
	}
	writeAccepted(w)
}

// lookup finds the in-flight invocation a POST names, answering 400 itself
// when there is none.
func (a *runtimeAPI) lookup(w http.ResponseWriter, r *http.Request) (*pending, bool) {
	id := r.PathValue("id")
	a.mu.Lock()
	p, ok := a.inflight[id]
	a.mu.Unlock()
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in flight with request id "+id)
	}
	return p, ok
}

func (a *runtimeAPI) accept(w http.ResponseWriter, p *pending, response []byte, fe *FunctionError) {
	a.mu.Lock()
	delete(a.inflight, p.id)
	a.mu.Unlock()
	if !p.finish(response, fe) {
		// The harness already gave up on it (timeout).
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+p.id+" is already finished")
		return
	}
	writeAccepted(w)
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func writeAPIError(w http.ResponseWriter, status int, errType, msg string) {
	body, _ := json.Marshal(FunctionError{Type: errType, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// newRequestID returns a random UUID (version 4), the shape of a Lambda request id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID returns an X-Ray trace header, unsampled.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
