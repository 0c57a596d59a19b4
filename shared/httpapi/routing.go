package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
)

// routingErrorsAsJSON answers what mux itself refuses (no route: 404; a
// route without this method: 405 with Allow) in the API's error shape,
// like every other refusal, instead of the mux's plain text.
func routingErrorsAsJSON(mux *http.ServeMux, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values Handler does not
			return
		}
		// No pattern: the mux's own 404, 405 or path-cleaning redirect.
		// Let it decide, then write its verdict as JSON.
		verdict := &headerOnly{header: http.Header{}}
		h.ServeHTTP(verdict, r)
		switch verdict.status {
		case http.StatusNotFound:
			writeError(w, r, log, apperr.E(apperr.NotFound, "No route %s %s.", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			allow := verdict.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, r, log, apperr.E(apperr.MethodNotAllowed, "%s does not take %s; it takes %s.", r.URL.Path, r.Method, allow))
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// headerOnly records the status and headers a handler writes, and drops
// its body.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header { return h.header }
func (h *headerOnly) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *headerOnly) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

// checkQuery refuses query parameters a route does not document, and any
// given twice, so a typo (windowopen=true) is a 400 instead of a filter
// silently dropped. Values are checked where they are read. An empty value
// counts as absent.
func checkQuery(allowed []string, h func(http.ResponseWriter, *http.Request, auth.Principal) error) func(http.ResponseWriter, *http.Request, auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		for name, values := range r.URL.Query() {
			if !slices.Contains(allowed, name) {
				if len(allowed) == 0 {
					return apperr.E(apperr.Invalid, "Unknown query parameter %q: this route takes none.", name)
				}
				return apperr.E(apperr.Invalid, "Unknown query parameter %q: this route takes %s.", name, strings.Join(allowed, ", "))
			}
			if len(values) > 1 {
				return apperr.E(apperr.Invalid, "The query parameter %s is given %d times; give it once.", name, len(values))
			}
		}
		return h(w, r, p)
	}
}

// documentedQueryParameters reads, from the OpenAPI document, the query
// parameters of each operation, keyed like the mux's patterns
// ("GET /v1/conversations"). The document is the one list of what a route
// takes; openapi_test.go checks it against the routes.
func documentedQueryParameters() map[string][]string {
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	type operation struct {
		Parameters []param `json:"parameters"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		panic("httpapi: openapi.json: " + err.Error()) // embedded; openapi_test.go parses it too
	}
	resolve := func(p param) param {
		if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			return doc.Components.Parameters[name]
		}
		return p
	}
	out := map[string][]string{}
	for path, item := range doc.Paths {
		var shared operation
		if raw, ok := item["parameters"]; ok {
			_ = json.Unmarshal(raw, &shared.Parameters)
		}
		for method, raw := range item {
			if method == "parameters" || strings.HasPrefix(method, "x-") || method == "summary" || method == "description" || method == "servers" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			out[key] = []string{}
			for _, p := range append(shared.Parameters, op.Parameters...) {
				if p = resolve(p); p.In == "query" && !slices.Contains(out[key], p.Name) {
					out[key] = append(out[key], p.Name)
				}
			}
		}
	}
	return out
}
