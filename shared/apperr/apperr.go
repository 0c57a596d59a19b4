// Package apperr is the application error: a machine-readable code and a
// plain sentence for the user, wrapping the cause. Domain code returns these;
// only the HTTP edge maps codes to statuses.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers and for the HTTP edge.
type Code string

const (
	Internal        Code = "internal"
	Invalid         Code = "invalid"
	NotFound        Code = "not_found"
	Conflict        Code = "conflict"
	Unauthenticated Code = "unauthenticated"
	Forbidden       Code = "forbidden"
	TooLarge        Code = "too_large"
	// WindowClosed: the customer service window (24 h since the customer's
	// last message) is closed; only templates may be sent.
	WindowClosed Code = "window_closed"
	// Inactive: the WhatsApp integration is deactivated.
	Inactive Code = "integration_inactive"
	// NotStarted: the customer never wrote in this conversation, so only
	// the business could start it, and only with a template.
	NotStarted Code = "conversation_not_started"
	// MergeFieldsMissing: every merge field of a reply is empty for the
	// record, so the customer would get a skeleton of a message.
	MergeFieldsMissing Code = "merge_fields_missing"
	// AttachmentsUnavailable: attachments cannot be sent (yet).
	AttachmentsUnavailable Code = "attachments_unavailable"
	// ModuleImmutable: an edit tried to move a canned response to another
	// module; its merge fields belong to the module it was made for.
	ModuleImmutable Code = "module_immutable"
	// ConfirmationRequired: the action needs the user's explicit
	// confirmation (such as deactivating a WhatsApp number); ask and resend.
	ConfirmationRequired Code = "confirmation_required"
	// IdempotencyKeyReused: an Idempotency-Key came back with a request
	// other than the one it was first used for; answering with the first
	// reply would pass it off as the new one.
	IdempotencyKeyReused Code = "idempotency_key_reused"
	// MethodNotAllowed: the route exists but does not take this method.
	MethodNotAllowed Code = "method_not_allowed"
	// AccessDenied: Meta's Graph API refused the access token for the
	// WhatsApp number or account named, so it proves no ownership of it.
	AccessDenied Code = "whatsapp_access_denied"
	// NumberUnusable: the number exists but cannot be connected as it is
	// (Meta has not verified it).
	NumberUnusable Code = "number_unusable"
	// SignupFailed: Meta refused an Embedded Signup code (used, expired,
	// or issued to another app).
	SignupFailed Code = "signup_failed"
	// FileTooLarge: a file is over WhatsApp's size limit for its type.
	FileTooLarge Code = "file_too_large"
	// FileTypeUnsupported: WhatsApp does not take files of this type.
	FileTypeUnsupported Code = "file_type_unsupported"
	// FileContentMismatch: a file's bytes are not of the type it declared
	// (an executable named .jpg), or its size is not the one declared.
	FileContentMismatch Code = "file_content_mismatch"
	// Unavailable: a feature this deployment has not configured, or a
	// dependency that is down; the same request may work later.
	Unavailable Code = "unavailable"
	// InsufficientCredits: the org's balance does not cover the price.
	InsufficientCredits Code = "insufficient_credits"
	// NoActiveNumber: the action needs an active WhatsApp number first.
	NoActiveNumber Code = "no_active_number"
	// PaymentFailed: the payment provider refused the payment.
	PaymentFailed Code = "payment_failed"
	// InvalidSnooze: a snooze for other than the offered durations.
	InvalidSnooze Code = "invalid_snooze"
)

// Error is an application error.
type Error struct {
	Code    Code
	Message string // for the user: one plain sentence
	Err     error  // the cause, for logs
	// Details are facts a client acts on (a balance, a price), sent
	// beside the message.
	Details map[string]any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error with a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error with a cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the user-facing message, hiding internal details.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Message
	}
	return "Something went wrong on our side; it has been logged."
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
