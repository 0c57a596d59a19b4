package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/blob/blobtest"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/media"
	"github.com/wacrm/wacrm/shared/payments/stripepay"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// The OpenAPI document (openapi.json) is checked three ways here: it is a
// well-formed OpenAPI 3.1 document; its routes are exactly the routes the
// package registers (parsed from the source, so a new route fails until it
// is documented); and real responses, driven through the harness over real
// storage, validate against the schema documented for their path, method
// and status. Response objects are validated strictly: the test forbids
// properties the document does not name, so a field added to a Go type
// fails until it is documented too, while the published document stays
// open for clients to tolerate additions.

const openAPIBase = "mem:///openapi.json"

// webhookRoutes are served by httpapi.Webhook, mounted at /webhook by the
// local stack and the webhook function; its ServeHTTP dispatches on the
// method, so there is no pattern to parse.
var webhookRoutes = []string{"GET /webhook", "POST /webhook", "POST /billing/stripe/webhook"}

var routePattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*)$`)

// registeredRoutes returns every "METHOD /path" pattern registered in the
// package's (non-test) source: the first argument of a call that is a
// string literal shaped like a method pattern.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && routePattern.MatchString(s) {
				seen[s] = true
			}
			return true
		})
	}
	routes := make([]string, 0, len(seen))
	for r := range seen {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in the source: %v; has route registration changed shape?", len(routes), routes)
	}
	return routes
}

// openAPI is the parsed document and a validator over a strict copy of it.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	strict, err := jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	closeObjects(strict)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openAPIBase, strict); err != nil {
		t.Fatal(err)
	}
	return &openAPI{doc: doc, compiler: c, compiled: map[string]*jsonschema.Schema{}}
}

// closeObjects adds "additionalProperties": false to every object schema
// that lists its properties and says nothing about others.
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		_, hasProps := v["properties"].(map[string]any)
		_, hasAP := v["additionalProperties"]
		if hasProps && !hasAP && v["type"] == "object" {
			v["additionalProperties"] = false
		}
		for _, e := range v {
			closeObjects(e)
		}
	case []any:
		for _, e := range v {
			closeObjects(e)
		}
	}
}

// schema compiles the schema at a JSON pointer into the document.
func (o *openAPI) schema(t *testing.T, pointer string) *jsonschema.Schema {
	t.Helper()
	if s, ok := o.compiled[pointer]; ok {
		return s
	}
	s, err := o.compiler.Compile(openAPIBase + "#" + pointer)
	if err != nil {
		t.Fatalf("compile schema at %s: %v", pointer, err)
	}
	o.compiled[pointer] = s
	return s
}

// resolve follows a local $ref ("#/a/b") to its target and pointer.
func (o *openAPI) resolve(v map[string]any, pointer string) (map[string]any, string, error) {
	for range 10 {
		ref, ok := v["$ref"].(string)
		if !ok {
			return v, pointer, nil
		}
		target, err := o.lookup(ref)
		if err != nil {
			return nil, "", err
		}
		m, ok := target.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("%s is not an object", ref)
		}
		v, pointer = m, strings.TrimPrefix(ref, "#")
	}
	return nil, "", fmt.Errorf("$ref chain too long at %s", pointer)
}

// lookup finds the value a local reference points at.
func (o *openAPI) lookup(ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local to the document", ref)
	}
	var cur any = o.doc
	if p == "" {
		return cur, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok, err := url.PathUnescape(tok)
		if err != nil {
			return nil, fmt.Errorf("$ref %q: %v", ref, err)
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q: no %q", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q: no index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("$ref %q: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one documented route.
type operation struct {
	Method, Path string // "GET", "/v1/views/{id}"
	Op           map[string]any
	PathItem     map[string]any
	Pointer      string // of the operation object
}

func (o operation) Route() string { return o.Method + " " + o.Path }

func (o *openAPI) operations(t *testing.T) []operation {
	t.Helper()
	paths, _ := o.doc["paths"].(map[string]any)
	var ops []operation
	for path, item := range paths {
		pi, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range httpMethods {
			op, ok := pi[m].(map[string]any)
			if !ok {
				continue
			}
			ops = append(ops, operation{Method: strings.ToUpper(m), Path: path, Op: op, PathItem: pi,
				Pointer: "/paths/" + escapePointer(path) + "/" + m})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Route() < ops[j].Route() })
	return ops
}

func (o *openAPI) operation(t *testing.T, route string) operation {
	t.Helper()
	for _, op := range o.operations(t) {
		if op.Route() == route {
			return op
		}
	}
	t.Fatalf("%s is not in openapi.json", route)
	return operation{}
}

// parameter is a parameter object, $ref resolved, and where it is.
type parameter struct {
	Name, In string
	Obj      map[string]any
	Pointer  string
}

// parameters returns the operation's parameters, path-level ones first.
func (o *openAPI) parameters(t *testing.T, op operation) []parameter {
	t.Helper()
	var out []parameter
	pathItem := strings.TrimSuffix(op.Pointer, "/"+strings.ToLower(op.Method))
	for _, level := range []struct {
		list    any
		pointer string
	}{{op.PathItem["parameters"], pathItem}, {op.Op["parameters"], op.Pointer}} {
		ps, _ := level.list.([]any)
		for i, p := range ps {
			pm, _ := p.(map[string]any)
			r, ptr, err := o.resolve(pm, level.pointer+"/parameters/"+strconv.Itoa(i))
			if err != nil {
				t.Fatalf("%s parameter: %v", op.Route(), err)
			}
			name, _ := r["name"].(string)
			in, _ := r["in"].(string)
			out = append(out, parameter{Name: name, In: in, Obj: r, Pointer: ptr})
		}
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	o := loadOpenAPI(t)
	doc := o.doc
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info needs title and version: %v", info)
	}
	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)

	// Every $ref resolves.
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}
	for _, r := range refs {
		if _, err := o.lookup(r); err != nil {
			t.Error(err)
		}
	}

	checkSecurity := func(where string, v any) {
		list, ok := v.([]any)
		if !ok && v != nil {
			t.Errorf("%s: security must be a list", where)
		}
		for _, req := range list {
			for name := range req.(map[string]any) {
				if schemes[name] == nil {
					t.Errorf("%s: security scheme %q is not defined", where, name)
				}
			}
		}
	}
	checkSecurity("document", doc["security"])

	opIDs := map[string]string{}
	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	ops := o.operations(t)
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	for _, op := range ops {
		route := op.Route()
		if !strings.HasPrefix(op.Path, "/") {
			t.Errorf("%s: paths start with /", route)
		}
		id, _ := op.Op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", route)
		} else if prev, dup := opIDs[id]; dup {
			t.Errorf("%s: operationId %q also used by %s", route, id, prev)
		}
		opIDs[id] = route
		checkSecurity(route, op.Op["security"])

		// Path parameters are exactly the template's, each required.
		want := map[string]bool{}
		for _, m := range templateParam.FindAllStringSubmatch(op.Path, -1) {
			want[m[1]] = true
		}
		declared := map[string]bool{}
		seen := map[string]bool{}
		for _, param := range o.parameters(t, op) {
			name, in, p := param.Name, param.In, param.Obj
			if !slices.Contains([]string{"path", "query", "header", "cookie"}, in) || name == "" {
				t.Errorf("%s: parameter %v needs a name and a valid in", route, p)
			}
			if seen[in+" "+name] && in != "path" {
				t.Errorf("%s: %s parameter %q declared twice", route, in, name)
			}
			seen[in+" "+name] = true
			if p["schema"] == nil {
				t.Errorf("%s: parameter %q has no schema", route, name)
			}
			if in == "path" {
				declared[name] = true
				if p["required"] != true {
					t.Errorf("%s: path parameter %q must be required", route, name)
				}
				if !want[name] {
					t.Errorf("%s: path parameter %q is not in the path", route, name)
				}
			}
		}
		for name := range want {
			if !declared[name] {
				t.Errorf("%s: path parameter {%s} is not declared", route, name)
			}
		}

		// Responses: at least one success, each with a description, and
		// every schema compiles (against the JSON Schema 2020-12 meta-schema).
		responses, _ := op.Op["responses"].(map[string]any)
		success := false
		for status, r := range responses {
			code, err := strconv.Atoi(status)
			if (err != nil || code < 100 || code > 599) && status != "default" {
				t.Errorf("%s: response key %q is not a status", route, status)
			}
			success = success || (code >= 200 && code < 300)
			resp, ptr, err := o.resolve(r.(map[string]any), op.Pointer+"/responses/"+status)
			if err != nil {
				t.Errorf("%s %s: %v", route, status, err)
				continue
			}
			if d, _ := resp["description"].(string); d == "" {
				t.Errorf("%s %s: a response needs a description", route, status)
			}
			content, _ := resp["content"].(map[string]any)
			for mt := range content {
				o.schema(t, ptr+"/content/"+escapePointer(mt)+"/schema")
			}
		}
		if !success {
			t.Errorf("%s: no 2xx response", route)
		}
		if rb, ok := op.Op["requestBody"].(map[string]any); ok {
			content, _ := rb["content"].(map[string]any)
			if len(content) == 0 {
				t.Errorf("%s: requestBody without content", route)
			}
			for mt := range content {
				o.schema(t, op.Pointer+"/requestBody/content/"+escapePointer(mt)+"/schema")
			}
		}
	}
	// Every named schema compiles.
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		o.schema(t, "/components/schemas/"+escapePointer(name))
	}
}

// TestOpenAPIErrorCodes: the document's error codes are apperr's codes.
func TestOpenAPIErrorCodes(t *testing.T) {
	o := loadOpenAPI(t)
	enum, _ := o.doc["components"].(map[string]any)["schemas"].(map[string]any)["ErrorCode"].(map[string]any)["enum"].([]any)
	var documented []string
	for _, e := range enum {
		documented = append(documented, e.(string))
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "apperr", "apperr.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Type == nil || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Code" {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(lit.Value)
				codes = append(codes, s)
			}
		}
		return true
	})
	sort.Strings(documented)
	sort.Strings(codes)
	if len(codes) < 5 || !slices.Equal(documented, codes) {
		t.Errorf("ErrorCode enum = %v\napperr codes    = %v", documented, codes)
	}
}

// TestOpenAPIRoutesMatchMux: the document's routes are the source's, and
// the mux serves each documented route (it is not the catch-all).
func TestOpenAPIRoutesMatchMux(t *testing.T) {
	o := loadOpenAPI(t)
	var documented []string
	for _, op := range o.operations(t) {
		documented = append(documented, op.Route())
	}
	registered := append(registeredRoutes(t), webhookRoutes...)
	sort.Strings(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("%s is in openapi.json but not registered", r)
		}
	}

	// Probe every documented route without a token: each must reach its
	// handler, which the catch-all ("No route", 404) would not.
	h := newHarness(t, nil)
	srv := newOpenAPIServer(t, h)
	probe := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, body := probe("GET", "/v1/no-such-route"); s != http.StatusNotFound || !strings.Contains(body, "No route") {
		t.Fatalf("catch-all: %d %s; the probe below relies on it", s, body)
	}
	for _, op := range o.operations(t) {
		path := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(op.Path, "probe")
		path = strings.Replace(path, "/records/probe/", "/records/Leads/", 1)
		s, body := probe(op.Method, path)
		if strings.Contains(body, "No route") || s == http.StatusMethodNotAllowed {
			t.Errorf("%s: not served (%d %s)", op.Route(), s, body)
		}
	}
}

// newOpenAPIServer serves everything a deployment serves for h's app: the
// API, the document and the webhook (app secret "openapi-secret", verify
// token "verify-me").
func newOpenAPIServer(t *testing.T, h *harness) *httptest.Server {
	t.Helper()
	api := h.App.API(h.Issuer).Handler()
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("GET /openapi.json", api)
	mux.Handle("GET /asyncapi.json", api)
	mux.Handle("/webhook", h.App.Webhook([]byte("openapi-secret"), "verify-me"))
	mux.Handle("/billing/stripe/webhook", h.App.PaymentWebhook(stripepay.Events{Secret: paymentSecret}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenAPIServed(t *testing.T) {
	h := newHarness(t, nil)
	srv := newOpenAPIServer(t, h)
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	// The committed document, but for its server: the host asked.
	var served, committed map[string]any
	mustDecode(t, body, &served)
	mustDecode(t, httpapi.OpenAPI(), &committed)
	if got := served["servers"].([]any)[0].(map[string]any)["url"]; got != srv.URL {
		t.Errorf("served servers[0].url = %v, want %s", got, srv.URL)
	}
	delete(served, "servers")
	delete(committed, "servers")
	if !reflect.DeepEqual(served, committed) {
		t.Errorf("the served document differs from openapi.json beyond servers")
	}
	for _, tt := range []struct{ host, proto, want string }{
		{"api.example.com", "https", "https://api.example.com"},
		{"abc123.execute-api.eu-west-1.amazonaws.com", "https", "https://abc123.execute-api.eu-west-1.amazonaws.com"},
		{"127.0.0.1:9090", "", "http://127.0.0.1:9090"},
		{"[::1]:8080", "http", "http://[::1]:8080"},
		{"evil.example/<script>", "https", "/"},
		{"api.example.com", "gopher", "http://api.example.com"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/openapi.json", nil)
		req.Host = tt.host
		if tt.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc struct {
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.Servers) != 1 || doc.Servers[0].URL != tt.want {
			t.Errorf("Host %q, X-Forwarded-Proto %q: servers %+v (%v), want %s", tt.host, tt.proto, doc.Servers, err, tt.want)
		}
	}
	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequest("GET", srv.URL+"/openapi.json", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d, want 304", etag, resp.StatusCode)
	}
}

// checker sends requests and validates each answer against the document,
// remembering which statuses of which routes were seen.
type checker struct {
	t     *testing.T
	o     *openAPI
	h     *harness
	base  string
	seen  map[string]map[int]bool
	last  *http.Response
	calls int
}

func newChecker(t *testing.T, h *harness, base string) *checker {
	return &checker{t: t, o: loadOpenAPI(t), h: h, base: base, seen: map[string]map[int]bool{}}
}

// call sends method path (an instance of route's template) as user ("" =
// no token) and fails the test unless the status is want and the answer
// matches the document. body is JSON-encoded unless it is a string or
// []byte. A body the server accepted (2xx) must also match the documented
// request body. It returns the response body.
func (c *checker) call(user, route, path string, body any, want int, headers ...string) []byte {
	t := c.t
	t.Helper()
	c.calls++
	method, tmpl, _ := strings.Cut(route, " ")
	if !matchesTemplate(tmpl, strings.SplitN(path, "?", 2)[0]) {
		t.Fatalf("%s does not match %s", path, route)
	}
	op := c.o.operation(t, route)
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+c.h.Tokens[user])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.last = resp
	if resp.StatusCode != want {
		t.Errorf("%s %s as %q: status %d, want %d: %s", method, path, user, resp.StatusCode, want, got)
		return got
	}
	c.checkParameters(op, path, headers, want/100 == 2)
	if want/100 == 2 && raw != nil {
		c.validateRequest(op, raw)
	}
	c.validateResponse(op, path, resp, got)
	if c.seen[route] == nil {
		c.seen[route] = map[int]bool{}
	}
	c.seen[route][want] = true
	return got
}

// checkParameters fails the test when a request names a query parameter or
// header the operation does not document, or when the server accepted a
// query value the document refuses.
func (c *checker) checkParameters(op operation, path string, headers []string, accepted bool) {
	t := c.t
	t.Helper()
	documented := map[string]parameter{}
	for _, p := range c.o.parameters(t, op) {
		documented[p.In+" "+strings.ToLower(p.Name)] = p
	}
	_, rawQuery, _ := strings.Cut(path, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range query {
		p, ok := documented["query "+strings.ToLower(name)]
		if !ok {
			t.Errorf("%s: query parameter %q is not documented", op.Route(), name)
			continue
		}
		if !accepted {
			continue
		}
		var inst any = values[0]
		if typ, _ := mapOf(p.Obj["schema"])["type"].(string); typ == "integer" || typ == "boolean" {
			if inst, err = jsonschema.UnmarshalJSON(strings.NewReader(values[0])); err != nil {
				t.Errorf("%s: the server accepted %s=%q, not of type %s", op.Route(), name, values[0], typ)
				continue
			}
		}
		if err := c.o.schema(t, p.Pointer+"/schema").Validate(inst); err != nil {
			t.Errorf("%s: the server accepted %s=%q, which the document refuses: %v", op.Route(), name, values[0], err)
		}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if _, ok := documented["header "+strings.ToLower(headers[i])]; !ok {
			t.Errorf("%s: header %q is not documented", op.Route(), headers[i])
		}
	}
}

func (c *checker) validateRequest(op operation, raw []byte) {
	t := c.t
	t.Helper()
	rb, ok := op.Op["requestBody"].(map[string]any)
	if !ok {
		t.Errorf("%s accepted a body but documents none", op.Route())
		return
	}
	if _, ok := rb["content"].(map[string]any)["application/json"]; !ok {
		t.Errorf("%s: no application/json request body documented", op.Route())
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Errorf("%s: request body is not JSON: %v", op.Route(), err)
		return
	}
	if err := c.o.schema(t, op.Pointer+"/requestBody/content/application~1json/schema").Validate(inst); err != nil {
		t.Errorf("%s: the server accepted a request body the document refuses: %s\n%v", op.Route(), raw, err)
	}
}

func (c *checker) validateResponse(op operation, path string, resp *http.Response, body []byte) {
	t := c.t
	t.Helper()
	status := strconv.Itoa(resp.StatusCode)
	r, ok := op.Op["responses"].(map[string]any)[status].(map[string]any)
	if !ok {
		t.Errorf("%s %s: status %s is not documented: %s", op.Method, path, status, body)
		return
	}
	doc, ptr, err := c.o.resolve(r, op.Pointer+"/responses/"+status)
	if err != nil {
		t.Fatal(err)
	}
	for name, hv := range mapOf(doc["headers"]) {
		hdr, _, err := c.o.resolve(hv.(map[string]any), "")
		if err != nil {
			t.Fatal(err)
		}
		if hdr["required"] == true && resp.Header.Get(name) == "" {
			t.Errorf("%s %s %s: documented header %s is missing", op.Method, path, status, name)
		}
	}
	content := mapOf(doc["content"])
	if len(content) == 0 {
		if len(body) != 0 {
			t.Errorf("%s %s %s: documented without content, got %q", op.Method, path, status, body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || content[mt] == nil {
		t.Errorf("%s %s %s: Content-Type %q is not documented", op.Method, path, status, resp.Header.Get("Content-Type"))
		return
	}
	var inst any = string(body)
	if mt == "application/json" {
		if inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(body)); err != nil {
			t.Errorf("%s %s %s: not JSON: %v: %s", op.Method, path, status, err, body)
			return
		}
	}
	if err := c.o.schema(t, ptr+"/content/"+escapePointer(mt)+"/schema").Validate(inst); err != nil {
		t.Errorf("%s %s %s: the response does not match the document: %s\n%v", op.Method, path, status, truncate(body, 2000), err)
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// matchesTemplate reports whether path is an instance of tmpl.
func matchesTemplate(tmpl, path string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !(strings.HasPrefix(ts[i], "{") && ps[i] != "") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// retime moves the harness clock to the wall clock and issues tokens valid
// then: idempotency keys expire by the table's wall clock, as with
// DynamoDB's TTL.
func retime(t *testing.T, h *harness) {
	t.Helper()
	h.Now = time.Now().UTC().Truncate(time.Second)
	for _, p := range []auth.Principal{
		{UserID: "u-admin", Org: "acme", Name: "Ada", Groups: []string{"admin"}},
		{UserID: "u-sam", Org: "acme", Name: "Sam", Groups: []string{"sales"}},
		{UserID: "u-lee", Org: "acme", Name: "Lee", Groups: []string{"sales"}},
		{UserID: "u-eve", Org: "other", Name: "Eve", Groups: []string{"admin"}},
	} {
		tok, err := h.Issuer.Issue(p, 72*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h.Tokens[p.UserID] = tok
	}
}

// customerSends delivers one message from waID to the number phoneNumberID
// at the harness clock, through the real intake. msg holds the message's
// type and its type-specific part, as in Meta's webhook.
func customerSends(t *testing.T, h *harness, phoneNumberID, waID, name, wamid string, msg map[string]any) {
	t.Helper()
	m := map[string]any{"from": waID, "id": wamid, "timestamp": strconv.FormatInt(h.Now.Unix(), 10)}
	for k, v := range msg {
		m[k] = v
	}
	body, _ := json.Marshal(webhookEvent(phoneNumberID, waID, name, m))
	if err := h.App.Intake.HandleBody(context.Background(), body); err != nil {
		t.Fatal(err)
	}
}

func webhookEvent(phoneNumberID, waID, name string, msg map[string]any) map[string]any {
	return map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "200", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550100001", "phone_number_id": phoneNumberID},
			"contacts":          []any{map[string]any{"wa_id": waID, "profile": map[string]any{"name": name}}},
			"messages":          []any{msg},
		}}}}},
	}
}

// TestOpenAPIResponsesMatchDocument drives every documented route through
// its success and its refusals and validates each answer.
func TestOpenAPIResponsesMatchDocument(t *testing.T) {
	h := newHarness(t, nil)
	retime(t, h)
	srv := newOpenAPIServer(t, h)
	c := newChecker(t, h, srv.URL)
	pnid := h.Integ.PhoneNumberID
	customerSends(t, h, pnid, "15550001111", "Ana Díaz", "wamid.ana.1", map[string]any{"type": "text", "text": map[string]any{"body": "Hola"}})
	customerSends(t, h, pnid, "15550001111", "Ana Díaz", "wamid.ana.2", map[string]any{"type": "image",
		"image": map[string]any{"id": "media-1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "the invoice"}})
	customerSends(t, h, pnid, "15550002222", "Bo Li", "wamid.bo.1", map[string]any{"type": "text", "text": map[string]any{"body": "Hi"}})

	// The document itself.
	c.call("", "GET /openapi.json", "/openapi.json", nil, 200)
	c.call("", "GET /asyncapi.json", "/asyncapi.json", nil, 200)

	// The webhook.
	c.call("", "GET /webhook", "/webhook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=4242", nil, 200)
	c.call("", "GET /webhook", "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=4242", nil, 403)
	event, _ := json.Marshal(webhookEvent(pnid, "15550003333", "Cy", map[string]any{"from": "15550003333", "id": "wamid.cy.1",
		"timestamp": strconv.FormatInt(h.Now.Unix(), 10), "type": "text", "text": map[string]any{"body": "hello"}}))
	c.call("", "POST /webhook", "/webhook", event, 200, "X-Hub-Signature-256", whatsapp.Sign([]byte("openapi-secret"), event))
	c.call("", "POST /webhook", "/webhook", event, 401, "X-Hub-Signature-256", whatsapp.Sign([]byte("another-secret"), event))
	big := append(append([]byte(`{"object":"whatsapp_business_account","entry":[],"pad":"`), bytes.Repeat([]byte("x"), httpapi.MaxWebhookBytes)...), `"}`...)
	c.call("", "POST /webhook", "/webhook", big, 413, "X-Hub-Signature-256", whatsapp.Sign([]byte("openapi-secret"), big))

	// Conversations.
	var convs struct {
		Items []struct {
			ID       string `json:"id"`
			OwnerID  string `json:"ownerId"`
			Customer struct {
				WaID string `json:"waId"`
			} `json:"customer"`
			Record struct {
				Module, ID string
			} `json:"record"`
		} `json:"items"`
	}
	mustDecode(t, c.call("u-sam", "GET /v1/conversations", "/v1/conversations", nil, 200), &convs)
	if len(convs.Items) != 2 {
		t.Fatalf("want 2 conversations, got %+v", convs)
	}
	ana, bo := convs.Items[0], convs.Items[1]
	if ana.Customer.WaID != "15550001111" {
		ana, bo = bo, ana
	}
	conv := "/v1/conversations/" + ana.ID
	c.call("u-sam", "GET /v1/conversations", "/v1/conversations?unanswered=3d&owner=me&windowOpen=true&limit=1", nil, 200)
	c.call("u-sam", "GET /v1/conversations", "/v1/conversations?unanswered=soon", nil, 400)
	c.call("u-sam", "GET /v1/conversations", "/v1/conversations?view=no-such-view", nil, 404)
	c.call("", "GET /v1/conversations", "/v1/conversations", nil, 401)
	c.call("u-sam", "GET /v1/conversations/{id}", conv, nil, 200)
	c.call("u-sam", "GET /v1/conversations/{id}", "/v1/conversations/no-such-id", nil, 404)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages", nil, 200)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages?limit=0", nil, 400)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages?order=desc", nil, 200)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages?order=newest", nil, 400)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", "/v1/conversations/no-such-id/messages", nil, 404)
	var atts struct {
		Items []json.RawMessage `json:"items"`
	}
	mustDecode(t, c.call("u-sam", "GET /v1/conversations/{id}/attachments", conv+"/attachments", nil, 200), &atts)
	if len(atts.Items) != 1 {
		t.Errorf("attachments: %d, want the image", len(atts.Items))
	}
	// The image refused, then copied: the error and the download URL are
	// documented too.
	setMedia := func(fn func(*inbox.Media)) {
		t.Helper()
		err := h.App.Store.UpdateMessageMedia(context.Background(), "acme", ana.ID, h.Now, "wamid.ana.2", func(m *inbox.Media) error { fn(m); return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	setMedia(func(m *inbox.Media) { m.Error = media.ReasonExpired })
	c.call("u-sam", "GET /v1/conversations/{id}/attachments", conv+"/attachments", nil, 200)
	key := media.BlobKey("acme", ana.ID, "wamid.ana.2")
	if err := h.Blobs.Put(context.Background(), key, []byte("jpeg bytes"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	setMedia(func(m *inbox.Media) { m.Error, m.BlobKey, m.Size = "", key, 10 })
	c.call("u-sam", "GET /v1/conversations/{id}/attachments", conv+"/attachments", nil, 200)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages", nil, 200)
	c.call("u-sam", "GET /v1/conversations/{id}/attachments", conv+"/attachments?limit=1000", nil, 400)

	// Attachments uploaded from the computer: declared, refused, uploaded,
	// completed (refused, then accepted), read.
	var declared struct {
		ID     string `json:"id"`
		Upload struct {
			URL    string            `json:"url"`
			Fields map[string]string `json:"fields"`
		} `json:"upload"`
	}
	declareBody := func(name, contentType string, size int) []byte {
		b, _ := json.Marshal(map[string]any{"name": name, "contentType": contentType, "size": size})
		return b
	}
	mustDecode(t, c.call("u-sam", "POST /v1/attachments", "/v1/attachments", declareBody("a.png", "image/png", len(testPNG)), 201), &declared)
	c.call("u-sam", "POST /v1/attachments", "/v1/attachments", declareBody("big.png", "image/png", 6<<20), 422)
	c.call("u-sam", "POST /v1/attachments", "/v1/attachments", declareBody("", "image/png", 10), 400)
	c.call("u-sam", "POST /v1/attachments/{id}/complete", "/v1/attachments/"+declared.ID+"/complete", nil, 409)
	c.call("u-sam", "GET /v1/attachments/{id}", "/v1/attachments/"+declared.ID, nil, 200)
	if s, resp := blobtest.PostForm(t, blob.PresignedPost{URL: declared.Upload.URL, Fields: declared.Upload.Fields}, nil, testPNG); s/100 != 2 {
		t.Fatalf("upload: %d %s", s, resp)
	}
	c.call("u-sam", "POST /v1/attachments/{id}/complete", "/v1/attachments/"+declared.ID+"/complete", nil, 200)
	c.call("u-sam", "GET /v1/attachments/{id}", "/v1/attachments/"+declared.ID, nil, 200)
	c.call("u-sam", "GET /v1/attachments/{id}", "/v1/attachments/no-such-id", nil, 404)
	c.call("u-sam", "POST /v1/attachments/{id}/complete", "/v1/attachments/no-such-id/complete", nil, 404)
	mustDecode(t, c.call("u-sam", "POST /v1/attachments", "/v1/attachments", declareBody("exe.jpg", "image/jpeg", 4), 201), &declared)
	if s, resp := blobtest.PostForm(t, blob.PresignedPost{URL: declared.Upload.URL, Fields: declared.Upload.Fields}, nil, []byte("MZ\x90\x00")); s/100 != 2 {
		t.Fatalf("upload: %d %s", s, resp)
	}
	c.call("u-sam", "POST /v1/attachments/{id}/complete", "/v1/attachments/"+declared.ID+"/complete", nil, 422)
	c.call("u-sam", "GET /v1/conversations/{id}/attachments", "/v1/conversations/no-such-id/attachments", nil, 404)

	// Canned responses.
	var cr struct{ ID string }
	mustDecode(t, c.call("u-sam", "POST /v1/canned-responses", "/v1/canned-responses",
		map[string]any{"module": "Leads", "name": "Greeting", "text": "Hi $[Leads.First Name], $[Leads.Industry] here"}, 201), &cr)
	canned := "/v1/canned-responses/" + cr.ID
	c.call("u-sam", "POST /v1/canned-responses", "/v1/canned-responses", map[string]any{"module": "Deals", "name": "X", "text": "x"}, 400)
	c.call("u-sam", "POST /v1/canned-responses", "/v1/canned-responses",
		map[string]any{"module": "Leads", "name": "Big", "text": strings.Repeat("x", 70<<10)}, 413)
	c.call("u-sam", "GET /v1/canned-responses", "/v1/canned-responses?module=Leads&q=greet&limit=10", nil, 200)
	c.call("u-sam", "GET /v1/canned-responses", "/v1/canned-responses?module=Deals", nil, 400)
	c.call("u-sam", "GET /v1/canned-responses/{id}", canned, nil, 200)
	c.call("u-sam", "GET /v1/canned-responses/{id}", "/v1/canned-responses/no-such-id", nil, 404)
	c.call("u-lee", "PATCH /v1/canned-responses/{id}", canned, map[string]any{"name": "Morning greeting", "module": "Leads"}, 200)
	c.call("u-lee", "PATCH /v1/canned-responses/{id}", canned, map[string]any{"module": "Contacts"}, 409)
	c.call("u-lee", "PATCH /v1/canned-responses/{id}", canned, map[string]any{"colour": "red"}, 400)
	c.call("u-lee", "PATCH /v1/canned-responses/{id}", "/v1/canned-responses/no-such-id", map[string]any{"name": "x"}, 404)

	// Preview and reply.
	c.call("u-sam", "POST /v1/conversations/{id}/preview", conv+"/preview", map[string]any{"cannedResponseId": cr.ID}, 200)
	c.call("u-sam", "POST /v1/conversations/{id}/preview", conv+"/preview", map[string]any{"text": "Hi $[Leads.First Name]"}, 200)
	c.call("u-sam", "POST /v1/conversations/{id}/preview", conv+"/preview", map[string]any{}, 400)
	c.call("u-sam", "POST /v1/conversations/{id}/preview", conv+"/preview", map[string]any{"cannedResponseId": "no-such-id"}, 404)
	c.call("u-sam", "POST /v1/conversations/{id}/preview", "/v1/conversations/no-such-id/preview", map[string]any{"text": "x"}, 404)
	c.call("u-sam", "POST /v1/conversations/{id}/preview", conv+"/preview", map[string]any{"text": strings.Repeat("x", 70<<10)}, 413)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"cannedResponseId": cr.ID}, 202, "Idempotency-Key", "reply-1")
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"cannedResponseId": cr.ID}, 200, "Idempotency-Key", "reply-1")
	c.call("u-sam", "POST /v1/conversations/{id}/messages", "/v1/conversations/"+bo.ID+"/messages", map[string]any{"text": "Hello"}, 422, "Idempotency-Key", "reply-1")
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "a", "cannedResponseId": cr.ID}, 400)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "see attached", "attachmentIds": []string{"att-1"}}, 400)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", "/v1/conversations/no-such-id/messages", map[string]any{"text": "x"}, 404)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": strings.Repeat("x", 70<<10)}, 413)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "Your $[Leads.Industry]"}, 422)
	c.call("u-sam", "GET /v1/conversations/{id}/messages", conv+"/messages", nil, 200) // now with a reply in it

	c.call("u-sam", "DELETE /v1/canned-responses/{id}", canned, nil, 204)
	c.call("u-sam", "DELETE /v1/canned-responses/{id}", canned, nil, 404)

	// Views.
	var view struct{ ID string }
	mustDecode(t, c.call("u-sam", "POST /v1/views", "/v1/views",
		map[string]any{"name": "Mine, waiting", "query": map[string]any{"unanswered": "3d", "owner": "me", "windowOpen": true}}, 201), &view)
	c.call("u-sam", "POST /v1/views", "/v1/views", map[string]any{"name": "", "query": map[string]any{"owner": "me"}}, 400)
	c.call("u-sam", "POST /v1/views", "/v1/views", map[string]any{"name": strings.Repeat("x", 20<<10)}, 413)
	c.call("u-sam", "GET /v1/views", "/v1/views", nil, 200)
	c.call("", "GET /v1/views", "/v1/views", nil, 401)
	c.call("u-sam", "GET /v1/views/{id}", "/v1/views/"+view.ID, nil, 200)
	c.call("u-sam", "GET /v1/views/{id}", "/v1/views/sent-today", nil, 200)
	c.call("u-lee", "GET /v1/views/{id}", "/v1/views/"+view.ID, nil, 404)
	c.call("u-sam", "GET /v1/conversations", "/v1/conversations?view="+view.ID, nil, 200)
	c.call("u-sam", "DELETE /v1/views/{id}", "/v1/views/unanswered", nil, 400)
	c.call("u-sam", "DELETE /v1/views/{id}", "/v1/views/"+view.ID, nil, 204)
	c.call("u-sam", "DELETE /v1/views/{id}", "/v1/views/"+view.ID, nil, 404)

	// Records.
	rec := "/v1/records/" + ana.Record.Module + "/" + ana.Record.ID
	notOwner := "u-lee"
	if ana.OwnerID == "u-lee" {
		notOwner = "u-sam"
	}
	c.call("u-sam", "GET /v1/records/{module}/{id}", rec, nil, 200)
	c.call("u-sam", "GET /v1/records/{module}/{id}", "/v1/records/Deals/"+ana.Record.ID, nil, 400)
	c.call("u-sam", "GET /v1/records/{module}/{id}", "/v1/records/Leads/no-such-id", nil, 404)
	c.call("u-sam", "PATCH /v1/records/{module}/{id}", rec,
		map[string]any{"company": "Acme", "email": "ana@example.com", "fields": map[string]any{"Industry": "Retail", "Gone": nil}}, 200)
	c.call("u-sam", "PATCH /v1/records/{module}/{id}", rec, map[string]any{"org": "other"}, 400)
	c.call(notOwner, "PATCH /v1/records/{module}/{id}", rec, map[string]any{"ownerId": notOwner}, 403)
	c.call("u-sam", "PATCH /v1/records/{module}/{id}", "/v1/records/Leads/no-such-id", map[string]any{"company": "x"}, 404)
	c.call("u-sam", "PATCH /v1/records/{module}/{id}", rec, map[string]any{"company": strings.Repeat("x", 70<<10)}, 413)
	// With the field filled, the reply refused above goes through.
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "Your $[Leads.Industry]"}, 202)

	// Users.
	c.call("u-sam", "GET /v1/users", "/v1/users?limit=2", nil, 200)
	c.call("u-sam", "GET /v1/users", "/v1/users?limit=0", nil, 400)
	c.call("u-sam", "POST /v1/users", "/v1/users", map[string]any{"userId": "u-new"}, 403)
	c.call("u-admin", "POST /v1/users", "/v1/users", map[string]any{"userId": "u-new", "name": "Nia", "email": "nia@example.com", "roles": []string{"support"}}, 201)
	c.call("u-admin", "POST /v1/users", "/v1/users", map[string]any{"userId": "u-new"}, 409)
	c.call("u-admin", "POST /v1/users", "/v1/users", map[string]any{"userId": "u#new"}, 400)
	c.call("u-admin", "POST /v1/users", "/v1/users", map[string]any{"userId": "u-big", "name": strings.Repeat("x", 10<<10)}, 413)
	c.call("u-admin", "GET /v1/users/{id}", "/v1/users/u-new", nil, 200)
	c.call("u-admin", "GET /v1/users/{id}", "/v1/users/u-nobody", nil, 404)
	c.call("u-admin", "GET /v1/users/{id}", "/v1/users/u%23x", nil, 400)
	c.call("u-sam", "GET /v1/users/{id}", "/v1/users/u-new", nil, 403)
	c.call("u-admin", "PATCH /v1/users/{id}", "/v1/users/u-new", map[string]any{"disabled": true, "roles": []string{"support", "emea"}}, 200)
	c.call("u-admin", "PATCH /v1/users/{id}", "/v1/users/u-admin", map[string]any{"disabled": true}, 400)
	c.call("u-admin", "PATCH /v1/users/{id}", "/v1/users/u-nobody", map[string]any{"name": "x"}, 404)
	c.call("u-admin", "PATCH /v1/users/{id}", "/v1/users/u-new", map[string]any{"name": strings.Repeat("x", 10<<10)}, 413)
	c.call("u-sam", "PATCH /v1/users/{id}", "/v1/users/u-new", map[string]any{"disabled": false}, 403)
	c.call("u-sam", "DELETE /v1/users/{id}", "/v1/users/u-new", nil, 403)
	c.call("u-admin", "DELETE /v1/users/{id}", "/v1/users/u-new", nil, 204)
	c.call("u-admin", "DELETE /v1/users/{id}", "/v1/users/u-new", nil, 404)
	c.call("u-admin", "DELETE /v1/users/{id}", "/v1/users/u-admin", nil, 400)
	c.call("u-sam", "GET /v1/users", "/v1/users", nil, 200)

	// Notifications and their settings.
	ntf := "/v1/notifications/" + raiseNotification(t, h, ana.ID)
	c.call(ana.OwnerID, "GET /v1/notifications", "/v1/notifications", nil, 200)
	c.call(ana.OwnerID, "GET /v1/notifications", "/v1/notifications?state=snoozed&limit=10", nil, 200)
	c.call(ana.OwnerID, "GET /v1/notifications", "/v1/notifications?state=later", nil, 400)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"minutes": 20}, 422)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"minutes": "soon"}, 400)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"note": strings.Repeat("x", 5<<10)}, 413)
	c.call(notOwnerOf(ana.OwnerID), "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"minutes": 15}, 404)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"minutes": 15}, 200)
	c.call(ana.OwnerID, "GET /v1/notifications", "/v1/notifications?state=all", nil, 200)
	c.call(ana.OwnerID, "POST /v1/notifications/read", "/v1/notifications/read", nil, 200)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/dismiss", ntf+"/dismiss", nil, 200)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/dismiss", "/v1/notifications/ntf_nothing_1/dismiss", nil, 404)
	c.call(ana.OwnerID, "POST /v1/notifications/{id}/snooze", ntf+"/snooze", map[string]any{"minutes": 15}, 409)
	c.call("u-sam", "POST /v1/conversations/{id}/read", conv+"/read", nil, 200)
	c.call("u-sam", "POST /v1/conversations/{id}/read", "/v1/conversations/no-such-id/read", nil, 404)
	c.call("u-sam", "GET /v1/settings/notifications", "/v1/settings/notifications", nil, 200)
	c.call("u-admin", "PUT /v1/settings/notifications", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": 30}, 200)
	c.call("u-admin", "PUT /v1/settings/notifications", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": nil}, 200)
	c.call("u-admin", "PUT /v1/settings/notifications", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": 2000}, 400)
	c.call("u-admin", "PUT /v1/settings/notifications", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": strings.Repeat("9", 5<<10)}, 413)
	c.call("u-sam", "PUT /v1/settings/notifications", "/v1/settings/notifications", map[string]any{"windowWarningMinutes": 30}, 403)

	// Integrations (admins only).
	c.call("u-admin", "GET /v1/integrations", "/v1/integrations", nil, 200)
	c.call("u-sam", "GET /v1/integrations", "/v1/integrations", nil, 403)
	newInteg := map[string]any{"nickname": "Support", "phoneNumberId": "100000000000009", "wabaId": "300", "displayPhone": "+1 555 010 0009",
		"accessToken": "EAAG-secret-100000000000009", "preferences": map[string]any{"unknownSenders": "Contacts", "assign": map[string]any{"kind": "users", "ids": []string{"u-sam", "u-lee"}}}}
	var integ struct{ ID string }
	mustDecode(t, c.call("u-admin", "POST /v1/integrations", "/v1/integrations", newInteg, 201), &integ)
	c.call("u-admin", "POST /v1/integrations", "/v1/integrations", newInteg, 409)
	c.call("u-sam", "POST /v1/integrations", "/v1/integrations", newInteg, 403)
	c.call("u-admin", "POST /v1/integrations", "/v1/integrations", map[string]any{"nickname": "No number"}, 400)
	c.call("u-admin", "POST /v1/integrations", "/v1/integrations", map[string]any{"nickname": strings.Repeat("x", 20<<10)}, 413)
	ip := "/v1/integrations/" + integ.ID
	c.call("u-admin", "GET /v1/integrations/{id}", ip, nil, 200)
	c.call("u-admin", "GET /v1/integrations/{id}", "/v1/integrations/no-such-id", nil, 404)
	c.call("u-sam", "GET /v1/integrations/{id}", ip, nil, 403)
	c.call("u-admin", "PATCH /v1/integrations/{id}", ip, map[string]any{"nickname": "Help desk", "phoneNumberId": "100000000000009",
		"preferences": map[string]any{"assign": map[string]any{"kind": "group", "ids": []string{"sales"}}}}, 200)
	c.call("u-admin", "PATCH /v1/integrations/{id}", ip, map[string]any{"phoneNumberId": "100000000000010"}, 400)
	c.call("u-admin", "PATCH /v1/integrations/{id}", "/v1/integrations/no-such-id", map[string]any{"nickname": "x"}, 404)
	c.call("u-sam", "PATCH /v1/integrations/{id}", ip, map[string]any{"nickname": "x"}, 403)
	c.call("u-admin", "PATCH /v1/integrations/{id}", ip, map[string]any{"accessToken": strings.Repeat("x", 20<<10)}, 413)
	c.call("u-admin", "DELETE /v1/integrations/{id}", ip, nil, 409)
	c.call("u-admin", "DELETE /v1/integrations/{id}", ip+"?confirm=maybe", nil, 400)
	c.call("u-sam", "DELETE /v1/integrations/{id}", ip+"?confirm=true", nil, 403)
	c.call("u-admin", "DELETE /v1/integrations/{id}", "/v1/integrations/no-such-id?confirm=true", nil, 404)
	c.call("u-admin", "DELETE /v1/integrations/{id}", ip, map[string]any{"confirm": strings.Repeat("x", 5<<10)}, 413)
	c.call("u-admin", "DELETE /v1/integrations/{id}", ip, map[string]any{"confirm": " help DESK "}, 200)
	c.call("u-admin", "POST /v1/integrations/{id}/activate", ip+"/activate", nil, 200)
	c.call("u-sam", "POST /v1/integrations/{id}/activate", ip+"/activate", nil, 403)
	c.call("u-admin", "POST /v1/integrations/{id}/activate", "/v1/integrations/no-such-id/activate", nil, 404)

	// Embedded Signup: the code is exchanged once; the account's numbers
	// are listed, usable or not.
	code, err := h.Sim.Signup("300")
	if err != nil {
		t.Fatal(err)
	}
	signup := map[string]any{"code": code, "wabaId": "300"}
	c.call("u-sam", "POST /v1/integrations/connect", "/v1/integrations/connect", signup, 403)
	c.call("u-admin", "POST /v1/integrations/connect", "/v1/integrations/connect", map[string]any{"code": code}, 400)
	c.call("u-admin", "POST /v1/integrations/connect", "/v1/integrations/connect", signup, 200)
	c.call("u-admin", "POST /v1/integrations/connect", "/v1/integrations/connect", signup, 422)
	c.call("u-admin", "GET /v1/integrations/available", "/v1/integrations/available", nil, 200)
	c.call("u-admin", "GET /v1/integrations/available", "/v1/integrations/available?wabaId=300", nil, 200)
	c.call("u-admin", "GET /v1/integrations/available", "/v1/integrations/available?wabaId=400", nil, 404)
	c.call("u-admin", "GET /v1/integrations/available", "/v1/integrations/available?wabaId=x", nil, 400)
	c.call("u-sam", "GET /v1/integrations/available", "/v1/integrations/available", nil, 403)
	c.call("u-admin", "POST /v1/integrations", "/v1/integrations", map[string]any{"nickname": "Not mine", "phoneNumberId": "100000000000010", "wabaId": "300",
		"accessToken": "EAAG-secret-100000000000007", "preferences": map[string]any{"assign": map[string]any{"kind": "user", "ids": []string{"u-sam"}}}}, 422)

	// The acme number deactivated: a reply is refused (422), and after the
	// window closes it is refused for that reason.
	c.call("u-admin", "DELETE /v1/integrations/{id}", "/v1/integrations/"+h.Integ.ID+"?confirm=true", nil, 200)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "Still there?"}, 422)
	c.call("u-admin", "POST /v1/integrations/{id}/activate", "/v1/integrations/"+h.Integ.ID+"/activate", nil, 200)
	h.Now = h.Now.Add(25 * time.Hour)
	c.call("u-sam", "POST /v1/conversations/{id}/messages", conv+"/messages", map[string]any{"text": "Still there?"}, 422)
	c.call("u-sam", "GET /v1/conversations/{id}", conv, nil, 200) // window closed, expiresAt in the past

	c.call("u-sam", "GET /v1/settings", "/v1/settings", nil, 200)
	c.call("u-admin", "PATCH /v1/settings", "/v1/settings", map[string]any{"timeZone": "Europe/Lisbon"}, 200)
	c.call("u-sam", "GET /v1/settings", "/v1/settings", nil, 200)
	c.call("u-admin", "PATCH /v1/settings", "/v1/settings", map[string]any{"timeZone": "Europe/Nowhere"}, 400)
	c.call("u-sam", "PATCH /v1/settings", "/v1/settings", map[string]any{"timeZone": "UTC"}, 403)
	// Billing.
	c.call("u-sam", "GET /v1/billing", "/v1/billing", nil, 200)
	c.call("u-admin", "PATCH /v1/billing", "/v1/billing", map[string]any{"model": "message"}, 200)
	c.call("u-admin", "PATCH /v1/billing", "/v1/billing", map[string]any{"model": "per-minute"}, 400)
	c.call("u-sam", "PATCH /v1/billing", "/v1/billing", map[string]any{"model": "message"}, 403)
	c.call("u-admin", "PATCH /v1/billing", "/v1/billing", map[string]any{"model": strings.Repeat("x", 5<<10)}, 413)
	c.call("u-admin", "GET /v1/billing/rates", "/v1/billing/rates", nil, 200)
	c.call("u-sam", "GET /v1/billing/rates", "/v1/billing/rates", nil, 403)
	c.call("u-admin", "GET /v1/billing/ledger", "/v1/billing/ledger?limit=2", nil, 200)
	c.call("u-admin", "GET /v1/billing/ledger", "/v1/billing/ledger?limit=0", nil, 400)
	c.call("u-sam", "GET /v1/billing/ledger", "/v1/billing/ledger", nil, 403)
	day := h.Now.Format(time.DateOnly)
	c.call("u-admin", "GET /v1/billing/usage", "/v1/billing/usage?from="+day+"&to="+h.Now.Add(48*time.Hour).Format(time.RFC3339), nil, 200)
	c.call("u-admin", "GET /v1/billing/usage", "/v1/billing/usage?from="+day, nil, 400)
	c.call("u-sam", "GET /v1/billing/usage", "/v1/billing/usage?from=2026-11-01&to=2026-11-02", nil, 403)
	var purchase struct{ PaymentID string }
	mustDecode(t, c.call("u-admin", "POST /v1/billing/purchases", "/v1/billing/purchases",
		map[string]any{"credits": 100_000, "paymentMethod": "pm_card_visa", "saveCard": true}, 202, "Idempotency-Key", "buy-1"), &purchase)
	c.call("u-admin", "POST /v1/billing/purchases", "/v1/billing/purchases", map[string]any{"credits": 12, "paymentMethod": "pm_card_visa"}, 400)
	c.call("u-admin", "POST /v1/billing/purchases", "/v1/billing/purchases", map[string]any{"credits": 100_000, "paymentMethod": "pm_card_chargeDeclined"}, 402)
	c.call("u-sam", "POST /v1/billing/purchases", "/v1/billing/purchases", map[string]any{"credits": 100_000, "paymentMethod": "pm_card_visa"}, 403)
	c.call("u-admin", "POST /v1/billing/purchases", "/v1/billing/purchases", map[string]any{"paymentMethod": strings.Repeat("x", 5<<10)}, 413)
	h.Payments.Wait()
	c.call("u-admin", "PUT /v1/billing/auto-recharge", "/v1/billing/auto-recharge", map[string]any{"enabled": true, "minimum": 20_000, "amount": 100_000}, 200)
	c.call("u-admin", "PUT /v1/billing/auto-recharge", "/v1/billing/auto-recharge", map[string]any{"enabled": true, "minimum": 20_000, "amount": 3}, 400)
	c.call("u-sam", "PUT /v1/billing/auto-recharge", "/v1/billing/auto-recharge", map[string]any{"enabled": false}, 403)
	c.call("u-admin", "PUT /v1/billing/auto-recharge", "/v1/billing/auto-recharge", map[string]any{"enabled": "yes"}, 400)
	c.call("u-admin", "PUT /v1/billing/auto-recharge", "/v1/billing/auto-recharge", map[string]any{"minimum": strings.Repeat("1", 5<<10)}, 413)
	c.call("u-sam", "GET /v1/billing", "/v1/billing", nil, 200) // with a card, a payment and auto-recharge
	c.call("u-admin", "GET /v1/billing/ledger", "/v1/billing/ledger", nil, 200)
	// The provider's webhook: the purchase's event again (applied once
	// already: nothing more), one signed with another secret, one too big.
	payEvent := []byte(`{"id":"evt_doc","object":"event","type":"payment_intent.succeeded","created":` + strconv.FormatInt(time.Now().Unix(), 10) +
		`,"data":{"object":{"id":"` + purchase.PaymentID + `","object":"payment_intent","amount":1000,"metadata":{"wacrm_org":"acme","wacrm_kind":"purchase","wacrm_credits":"100000","wacrm_crossing":"0"}}}}`)
	sign := func(secret string) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payEvent, Secret: secret}).Header
	}
	c.call("", "POST /billing/stripe/webhook", "/billing/stripe/webhook", payEvent, 200, "Stripe-Signature", sign(paymentSecret))
	c.call("", "POST /billing/stripe/webhook", "/billing/stripe/webhook", payEvent, 400, "Stripe-Signature", sign("whsec_other"))
	big = bytes.Repeat([]byte("x"), httpapi.MaxPaymentEventBytes+1)
	c.call("", "POST /billing/stripe/webhook", "/billing/stripe/webhook", big, 413, "Stripe-Signature", sign(paymentSecret))

	// Without a token every /v1 route is 401.
	for _, op := range c.o.operations(t) {
		if !strings.HasPrefix(op.Path, "/v1/") {
			continue
		}
		path := strings.NewReplacer("{module}", "Leads", "{id}", "x").Replace(op.Path)
		c.call("", op.Route(), path, nil, 401)
	}

	// Every documented route was seen succeeding and, where it documents
	// refusals, refused.
	for _, op := range c.o.operations(t) {
		route := op.Route()
		var ok2, ok4, has4 bool
		for status := range c.seen[route] {
			ok2 = ok2 || status/100 == 2
			ok4 = ok4 || status/100 == 4
		}
		for status := range mapOf(op.Op["responses"]) {
			has4 = has4 || strings.HasPrefix(status, "4")
		}
		if !ok2 || (has4 && !ok4) {
			t.Errorf("%s: validated statuses %v; want a success and an error (add calls to this test)", route, keys(c.seen[route]))
		}
	}
	t.Logf("%d requests validated against openapi.json", c.calls)
}

func notOwnerOf(owner string) string {
	if owner == "u-lee" {
		return "u-sam"
	}
	return "u-lee"
}

func keys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", truncate(b, 500), err)
	}
}
