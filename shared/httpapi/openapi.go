package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 document of every route this package
// serves. openapi_test.go checks it against the routes registered in
// Handler and validates real responses against it, so it cannot drift.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag names the document's content, so clients revalidate cheaply.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}()

// OpenAPI returns a copy of the OpenAPI 3.1 document (JSON).
func OpenAPI() []byte { return bytes.Clone(openAPIDocument) }

// serveOpenAPI is GET /openapi.json, without authentication: the document
// describes the API's shape, nothing of any organisation.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("ETag", openAPIETag)
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openAPIDocument))
}
