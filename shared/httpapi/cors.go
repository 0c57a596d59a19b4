package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

// What a browser client of the API may send and read across origins. The
// CDK stack gives API Gateway's CORS configuration the same lists, so a
// frontend meets the same rules on make run as on AWS.
var (
	CORSAllowMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	CORSAllowHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"}
	// CORSExposeHeaders are the response headers a client reads: Location
	// of what a POST created, the document's ETag, Allow of a 405,
	// Retry-After of a throttle, and the Idempotency-Key a reply answers.
	CORSExposeHeaders = []string{"Location", "ETag", "Allow", "Retry-After", "Idempotency-Key"}
	CORSMaxAge        = time.Hour
)

// CORS answers browsers' cross-origin checks in front of h, as API
// Gateway's CORS configuration does on AWS: a preflight (OPTIONS with
// Access-Control-Request-Method) from an allowed origin is answered here
// with the methods and headers above; a request from an allowed origin
// gets Access-Control-Allow-Origin and the exposed headers. origins are
// exact origins ("https://crm.example.com") or "*" for any.
func CORS(origins []string, h http.Handler) http.Handler {
	anyOrigin := slices.Contains(origins, "*")
	allowed := func(origin string) bool { return anyOrigin || slices.Contains(origins, origin) }
	methods, headers := strings.Join(CORSAllowMethods, ", "), strings.Join(CORSAllowHeaders, ", ")
	expose, maxAge := strings.Join(CORSExposeHeaders, ", "), strconv.Itoa(int(CORSMaxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed(origin) {
			if preflight {
				writeError(w, r, slog.New(slog.DiscardHandler), apperr.E(apperr.Forbidden, "The origin %s may not call this API; allowed: %s.", origin, strings.Join(origins, ", ")))
				return
			}
			h.ServeHTTP(w, r) // no CORS headers: the browser withholds the answer
			return
		}
		allowOrigin := origin
		if anyOrigin {
			allowOrigin = "*"
		}
		w.Header().Set("Access-Control-Allow-Origin", allowOrigin)
		if preflight {
			w.Header().Add("Vary", "Access-Control-Request-Method")
			w.Header().Add("Vary", "Access-Control-Request-Headers")
			w.Header().Set("Access-Control-Allow-Methods", methods)
			w.Header().Set("Access-Control-Allow-Headers", headers)
			w.Header().Set("Access-Control-Max-Age", maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Access-Control-Expose-Headers", expose)
		h.ServeHTTP(w, r)
	})
}
