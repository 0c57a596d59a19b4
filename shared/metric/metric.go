// Package metric names the events the services count in their logs. A log
// line carrying Name.Attr() (metric=<name>) is one occurrence: on AWS the
// stack turns these lines into the CloudWatch metric Events{metric=<name>}
// (metric filters on every function's log group) and alarms on some of
// them; the README's runbook says what each alarm means and what to do.
//
// Lambda drops application log lines below its configured level (WARN in
// production), so a counted event is logged at WARN or ERROR; a test
// checks every use.
package metric

import "log/slog"

// Key is the log attribute that names a counted event.
const Key = "metric"

// Name is a counted event.
type Name string

// The counted events.
const (
	// A POST /webhook whose X-Hub-Signature-256 does not verify: a wrong
	// or rotated app secret, or someone who is not Meta.
	WebhookSignatureRefused Name = "webhook_signature_refused"
	// A POST /webhook refused with a 503 because the app secret is still
	// the placeholder the stack creates.
	WebhookSecretPlaceholder Name = "webhook_secret_placeholder"
	// A webhook signed with the previous app secret: Meta still uses the
	// secret being rotated out.
	WebhookPreviousSecret Name = "webhook_previous_secret"
	// A signed webhook body (or the part of one) that cannot be read,
	// kept under malformed/ with the reasons.
	MalformedWebhook Name = "malformed_webhook"
	// An error Meta reports in a webhook (value.errors).
	WebhookError Name = "webhook_error"
	// A message or status dated more than a few minutes in the future,
	// clamped to its receipt time.
	FutureTimestamp Name = "future_timestamp"
	// An inbound queue message that can never be processed: kept under
	// malformed/, not retried.
	UnprocessableBody Name = "unprocessable_body"
	// Messages or statuses for a phone number no integration claims.
	DroppedUnknownNumber Name = "dropped_unknown_number"
	// Messages or statuses for a deactivated integration's number.
	DroppedInactiveNumber Name = "dropped_inactive_number"
	// An outbound or media job that can never be processed, dropped.
	UnprocessableJob Name = "unprocessable_job"
	// An outbound job whose message no longer exists.
	MissingMessage Name = "missing_message"
	// A send that may or may not have reached WhatsApp: failed rather than
	// risking a duplicate.
	SendInDoubt Name = "send_in_doubt"
	// A reply WhatsApp accepted whose wamid could not be recorded.
	UnrecordedWAMID Name = "unrecorded_wamid"
	// A media job for a message that has no media.
	MediaMissing Name = "media_missing"
	// Inbound media that will never be copied (too large, checksum
	// mismatch, expired at Meta, token refused).
	MediaRefused Name = "media_refused"
	// An org's balance fell below its auto-recharge minimum.
	BillingLowBalance Name = "billing_low_balance"
	// A recharge the card declined: retried later, then turned off.
	BillingRechargeDeclined Name = "billing_recharge_declined"
	// Auto-recharge turned itself off after repeated declines.
	BillingAutoRechargeOff Name = "billing_auto_recharge_off"
	// A POST /billing/stripe/webhook whose Stripe-Signature does not verify.
	PaymentSignatureRefused Name = "payment_signature_refused"
	// A signed payment event that cannot be read, kept under malformed/.
	PaymentEventUnreadable Name = "payment_event_unreadable"
	// The local payment stand-in gave up posting an event.
	PaymentEventUndelivered Name = "payment_event_undelivered"
	// ChangeDeadLettered: a change kept failing in a consumer (locally) and
	// went to the changes dead-letter queue.
	ChangeDeadLettered Name = "change_dead_lettered"
	// ChangeFailed: a change failed in a stream consumer on Lambda, which
	// retries from it.
	ChangeFailed Name = "change_failed"
	// ScheduleFiringFailed: a schedule firing failed and will be retried.
	ScheduleFiringFailed Name = "schedule_firing_failed"
	// BadFiring: a schedule firing that notify cannot read was dropped.
	BadFiring Name = "bad_firing"
)

// Attr is the log attribute that counts one n.
func (n Name) Attr() slog.Attr { return slog.String(Key, string(n)) }
