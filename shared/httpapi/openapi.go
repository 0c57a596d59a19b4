package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 document of every route this package
// serves. openapi_test.go checks it against the routes registered in
// Handler and validates real responses against it, so it cannot drift.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns a copy of the OpenAPI 3.1 document (JSON) as committed:
// its one server is "/", the host that serves it.
func OpenAPI() []byte { return bytes.Clone(openAPIDocument) }

// openAPIParts is the document's top-level members in their order, so the
// served copy only swaps "servers".
var openAPIParts = func() []struct {
	key string
	raw json.RawMessage
} {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(openAPIDocument, &members); err != nil {
		panic("httpapi: openapi.json: " + err.Error()) // embedded; openapi_test.go parses it too
	}
	order := []string{"openapi", "info", "jsonSchemaDialect", "servers", "security", "tags", "paths", "webhooks", "components"}
	for k := range members {
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	var out []struct {
		key string
		raw json.RawMessage
	}
	for _, k := range order {
		if raw, ok := members[k]; ok {
			out = append(out, struct {
				key string
				raw json.RawMessage
			}{k, raw})
		}
	}
	return out
}()

// validHost is what a Host header may be to be echoed into the document.
var validHost = regexp.MustCompile(`^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// servedOpenAPI is the document as served to r: its server is the scheme
// and host the request came to (API Gateway's domain on AWS, the local
// stack's address on make run), so a generated client needs no base URL.
func servedOpenAPI(r *http.Request) []byte {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	switch p := r.Header.Get("X-Forwarded-Proto"); p { // set by API Gateway and proxies
	case "http", "https":
		scheme = p
	}
	servers := []map[string]string{{"url": "/", "description": "The host that serves this document."}}
	if validHost.MatchString(r.Host) {
		servers = []map[string]string{{"url": scheme + "://" + r.Host, "description": "The host this document was requested from."}}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range openAPIParts {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		if m.key == "servers" {
			s, _ := json.Marshal(servers)
			b.Write(s)
			continue
		}
		b.Write(m.raw)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// serveOpenAPI is GET /openapi.json, without authentication: the document
// describes the API's shape, nothing of any organisation.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc := servedOpenAPI(r)
	sum := sha256.Sum256(doc)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Vary", "X-Forwarded-Proto")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(doc))
}

// asyncAPIDocument is the AsyncAPI 3.0 document of the events pushed on
// the WebSocket; asyncapi_test.go checks it against notify's events.
//
//go:embed asyncapi.json
var asyncAPIDocument []byte

// asyncAPIETag names the document's content, so clients revalidate cheaply.
var asyncAPIETag = func() string {
	sum := sha256.Sum256(asyncAPIDocument)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}()

// AsyncAPI returns a copy of the AsyncAPI document (JSON).
func AsyncAPI() []byte { return bytes.Clone(asyncAPIDocument) }

// serveAsyncAPI is GET /asyncapi.json, public like the OpenAPI document.
func serveAsyncAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("ETag", asyncAPIETag)
	http.ServeContent(w, r, "asyncapi.json", time.Time{}, bytes.NewReader(asyncAPIDocument))
}
