// Package httpapi is wacrm's HTTP edge: the Meta webhook and the CRM API as
// http.Handlers, used as they are by the local stack and, through an API
// Gateway adapter, by the Lambdas. It is the only place that maps
// application errors to HTTP statuses.
package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
)

// statusOf maps an application error code to an HTTP status.
func statusOf(code apperr.Code) int {
	switch code {
	case apperr.Invalid, apperr.AttachmentsUnavailable:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.Conflict, apperr.ConfirmationRequired:
		return http.StatusConflict
	case apperr.ModuleImmutable:
		// 409, not 400: the same body is accepted by a response of the named
		// module; it is the target's current state that refuses it.
		return http.StatusConflict
	case apperr.InsufficientCredits:
		return http.StatusPaymentRequired
	case apperr.NoActiveNumber:
		return http.StatusConflict
	case apperr.PaymentFailed:
		return http.StatusPaymentRequired
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.WindowClosed, apperr.Inactive, apperr.NotStarted, apperr.MergeFieldsMissing, apperr.IdempotencyKeyReused,
		apperr.AccessDenied, apperr.NumberUnusable, apperr.SignupFailed,
		apperr.FileTooLarge, apperr.FileTypeUnsupported, apperr.FileContentMismatch, apperr.InvalidSnooze:
		return http.StatusUnprocessableEntity
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code    apperr.Code    `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details,omitempty"`
	} `json:"error"`
}

// writeError answers with {"error":{"code","message"}}, logging internal
// errors once, here, where they are handled.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := apperr.CodeOf(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		code, err = apperr.TooLarge, apperr.E(apperr.TooLarge, "The request body is larger than %d bytes.", mbe.Limit)
	}
	status := statusOf(code)
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		log.InfoContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = apperr.MessageOf(err)
	var ae *apperr.Error
	if errors.As(err, &ae) && code != apperr.Internal {
		body.Error.Details = ae.Details
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// decodeJSON reads a JSON body of at most limit bytes into v, refusing
// unknown fields so typos surface as errors instead of being ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apperr.Wrap(err, apperr.Invalid, "The request body is not valid JSON for this route: %v.", err)
	}
	return nil
}
