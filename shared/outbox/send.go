package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// SendStore is what sending needs from storage. Messages are addressed by
// org, conversation, timestamp and id, as a Job carries them.
type SendStore interface {
	// Message returns one message; apperr.NotFound when absent.
	Message(ctx context.Context, org, conversationID string, ts time.Time, id string) (*inbox.Message, error)
	// Conversation returns one conversation; apperr.NotFound when absent.
	Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error)
	// Integration returns one integration; apperr.NotFound when absent.
	Integration(ctx context.Context, org, id string) (*integration.Integration, error)
	// UpdateSendAttempt changes the send attempt recorded on an outbound
	// message, atomically: fn sees the message and the current attempt
	// (nil if none) and returns the attempt to keep (nil clears it), or an
	// error to change nothing, which UpdateSendAttempt returns.
	UpdateSendAttempt(ctx context.Context, org, conversationID string, ts time.Time, id string, fn func(m *inbox.Message, cur *inbox.SendAttempt) (*inbox.SendAttempt, error)) error
	// RecordSent records that WhatsApp accepted the message as wamid
	// (inbox.Message.RecordSent), clears the attempt, routes the wamid to
	// the message and applies the statuses that waited for it, atomically.
	// An empty wamid records the message as sent with nothing to route.
	RecordSent(ctx context.Context, org, conversationID string, ts time.Time, id, wamid string, sentAt time.Time) error
	// FailOutbound marks a message WhatsApp did not take as failed and
	// clears the attempt; a message with a wamid is left as it is.
	FailOutbound(ctx context.Context, org, conversationID string, ts time.Time, id string, at time.Time, reason inbox.MessageError) error
}

// Graph sends messages through the WhatsApp Cloud API; errors Meta answered
// are *whatsapp.GraphError. whatsapp.GraphClient implements it.
type Graph interface {
	SendMessage(ctx context.Context, phoneNumberID, accessToken string, m whatsapp.OutboundMessage) (wamid string, err error)
}

// DefaultThrottle is how a message throttled by WhatsApp is tried again:
// 8 attempts in all, 2 s after the first, doubling (capped at
// queue.MaxDelay); then it is failed.
var DefaultThrottle = queue.Throttle{MaxAttempts: 8, Base: 2 * time.Second}

// Defaults of a Dispatcher.
const (
	// DefaultSendTimeout bounds one Graph call.
	DefaultSendTimeout = 20 * time.Second
	// DefaultLease is how long an attempt is taken to be alive. It must
	// exceed SendTimeout plus recording time, so a duplicate job waits
	// for a slow sender instead of judging it crashed.
	DefaultLease = time.Minute
)

// Dispatcher consumes the outbound queue: it sends each job's message
// through the Graph API and records the wamid or why it failed.
//
// Where a per-number throughput limiter would go (Meta allows 80 messages/s
// per number by default): in send, just before Graph.SendMessage, keyed by
// the phone number id. With many Lambda instances it would be a shared
// token bucket (a DynamoDB counter per number and second); meanwhile
// WhatsApp's 130429 answers are retried with backoff.
type Dispatcher struct {
	Store   SendStore
	Graph   Graph
	Secrets secrets.Store
	// Queue is the outbound queue itself: throttled jobs go back on it
	// with a delay.
	Queue queue.Sender
	Log   *slog.Logger
	Now   func() time.Time

	Throttle    queue.Throttle // zero fields default to DefaultThrottle's
	SendTimeout time.Duration  // default DefaultSendTimeout
	Lease       time.Duration  // default DefaultLease

	Counts SendCounts
}

// SendCounts are running totals, for logs and tests.
type SendCounts struct {
	GraphCalls, Sent, Failed, Throttled, Skipped, InDoubt, BadWamid atomic.Int64
}

// Reasons a message failed, as the CRM user reads them.
const (
	ReasonWindowClosed   = "The 24-hour window closed before the message was sent."
	ReasonRateLimited    = "WhatsApp kept rate-limiting this number, so the message was not sent; try again in a few minutes."
	ReasonUnavailable    = "WhatsApp could not be reached, so the message was not sent; try again later."
	ReasonInDoubt        = "Sending was interrupted before WhatsApp confirmed it, so it was not retried (to avoid a duplicate); it may or may not have arrived. If it did, it shows its real status as soon as WhatsApp reports it; until then, check with the customer before sending it again."
	ReasonInactive       = "The WhatsApp number was deactivated before the message was sent."
	ReasonNoToken        = "The access token of this WhatsApp number is missing; an admin must reconnect the number."
	ReasonBadToken       = "WhatsApp refused the access token of this number (expired or revoked); an admin must reconnect the number."
	ReasonUndeliverable  = "WhatsApp could not deliver to this customer: the number may not be on WhatsApp, or the customer may have blocked the business."
	ReasonNoRecipient    = "The conversation has no WhatsApp id to send to."
	reasonRefusedPattern = "WhatsApp refused the message: %s"
)

// HandleBatch is a queue.BatchHandler. Jobs are independent: a failed one
// is redelivered by the queue, the others are acknowledged.
func (d *Dispatcher) HandleBatch(ctx context.Context, batch []queue.Message) (failed []string) {
	for _, qm := range batch {
		if err := d.handle(ctx, qm); err != nil {
			d.log().WarnContext(ctx, "outbound job failed; the queue will redeliver it", "messageId", qm.ID, "receiveCount", qm.ReceiveCount, "err", err)
			failed = append(failed, qm.ID)
		}
	}
	return failed
}

// handle sends one job. It returns an error only when the queue should
// deliver the job again.
func (d *Dispatcher) handle(ctx context.Context, qm queue.Message) error {
	if d.Graph == nil || d.Secrets == nil {
		return errors.New("send path misconfigured: no Graph API client or no secrets store")
	}
	job, err := DecodeJob(qm.Body)
	if err != nil {
		d.log().ErrorContext(ctx, "outbound job dropped", "messageId", qm.ID, "err", err, metric.UnprocessableJob.Attr())
		return nil
	}
	log := d.log().With("org", job.Org, "conversation", job.ConversationID, "message", job.MessageID, "attempt", job.Attempt)

	msg, err := d.Store.Message(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID)
	if apperr.Is(err, apperr.NotFound) {
		log.ErrorContext(ctx, "outbound job for a missing message dropped", metric.MissingMessage.Attr())
		return nil
	}
	if err != nil {
		return err
	}
	if done(msg) {
		d.Counts.Skipped.Add(1)
		return nil
	}
	conv, err := d.Store.Conversation(ctx, job.Org, job.ConversationID)
	if err != nil {
		return err
	}
	integ, err := d.Store.Integration(ctx, job.Org, conv.IntegrationID)
	if apperr.Is(err, apperr.NotFound) || (err == nil && !integ.Active) {
		return d.fail(ctx, log, job, inbox.MessageError{Title: "Number deactivated", Message: ReasonInactive})
	}
	if err != nil {
		return err
	}
	token, err := d.Secrets.Get(ctx, integ.TokenRef)
	if errors.Is(err, secrets.ErrNotFound) {
		return d.fail(ctx, log, job, inbox.MessageError{Title: "Access token missing", Message: ReasonNoToken})
	}
	if err != nil {
		return fmt.Errorf("get access token of %s: %w", integ.ID, err)
	}
	out := whatsapp.OutboundMessage{
		To: conv.Customer.WaID, Type: whatsapp.TypeText, Text: &whatsapp.OutText{Body: msg.Text},
		// Echoed in status webhooks: lets a status find our message even
		// when its wamid was never recorded.
		BizOpaqueCallbackData: inbox.RefOf(msg).String(),
	}
	if out.To == "" {
		out.ToUserID = conv.Customer.UserID
	}
	if err := out.Validate(); err != nil {
		reason := ReasonNoRecipient
		if out.To != "" || out.ToUserID != "" {
			reason = fmt.Sprintf(reasonRefusedPattern, err)
		}
		return d.fail(ctx, log, job, inbox.MessageError{Title: "Not sendable", Message: reason})
	}

	attempt, err := d.claim(ctx, job)
	var busy *busyError
	switch {
	case errors.Is(err, errDone):
		d.Counts.Skipped.Add(1)
		return nil
	case errors.As(err, &busy):
		// Another delivery of this job is sending right now. Look again
		// once its lease is over: by then it recorded the outcome, or it
		// died and the attempt is in doubt.
		return d.requeue(ctx, job, job.Attempt, busy.until.Sub(d.now())+time.Second)
	case errors.Is(err, errInDoubt):
		d.Counts.InDoubt.Add(1)
		log.WarnContext(ctx, "earlier send attempt in doubt; failing the message instead of risking a duplicate", metric.SendInDoubt.Attr())
		return d.fail(ctx, log, job, inbox.MessageError{Title: "Not confirmed", Message: ReasonInDoubt})
	case err != nil:
		return err
	}

	wamid, wrote, sendErr := d.send(ctx, integ.PhoneNumberID, token, out)
	if sendErr == nil {
		return d.recordSent(ctx, log, job, wamid)
	}
	return d.handleSendError(ctx, log, job, qm, attempt, sendErr, wrote)
}

func (d *Dispatcher) handleSendError(ctx context.Context, log *slog.Logger, job Job, qm queue.Message, attempt *inbox.SendAttempt, sendErr error, wrote bool) error {
	failure, ge := whatsapp.Classify(sendErr)
	switch {
	case failure == whatsapp.NoAnswer && wrote:
		// The request reached WhatsApp but no answer came back: it may
		// have been sent. At most once: fail it rather than risk a
		// duplicate the customer would see.
		d.Counts.InDoubt.Add(1)
		log.WarnContext(ctx, "send in doubt: request written, no answer", "err", sendErr, metric.SendInDoubt.Attr())
		return d.fail(ctx, log, job, inbox.MessageError{Title: "Not confirmed", Message: ReasonInDoubt, Details: sendErr.Error()})
	case failure == whatsapp.NoAnswer || failure == whatsapp.Transient:
		// Nothing reached WhatsApp, or it failed for now: safe to try again.
		return d.transient(ctx, log, job, qm, attempt, sendErr)
	case failure == whatsapp.Throttled:
		d.Counts.Throttled.Add(1)
		delay, ok := d.throttle().Next(job.Attempt)
		if !ok {
			return d.fail(ctx, log, job, graphReason(ge, "Rate limited", ReasonRateLimited))
		}
		if err := d.release(ctx, job, attempt); err != nil {
			return err
		}
		log.InfoContext(ctx, "throttled by WhatsApp; trying later", "code", ge.Code, "delay", delay)
		return d.requeue(ctx, job, job.Attempt+1, delay)
	case failure == whatsapp.TokenRefused:
		return d.fail(ctx, log, job, graphReason(ge, "Access token refused", ReasonBadToken))
	case whatsapp.IsWindowClosed(sendErr):
		return d.fail(ctx, log, job, graphReason(ge, "Window closed", ReasonWindowClosed))
	case ge.Code == whatsapp.ErrCodeUndeliverable:
		return d.fail(ctx, log, job, graphReason(ge, "Undeliverable", ReasonUndeliverable))
	default:
		return d.fail(ctx, log, job, graphReason(ge, "Refused by WhatsApp", fmt.Sprintf(reasonRefusedPattern, ge.Plain())))
	}
}

// transient handles a failure that WhatsApp did not act on and that may
// pass (no connection, 5xx): the queue delivers the job again after its
// visibility timeout. On the last delivery before the dead-letter queue the
// message is failed instead, so the user does not see it queued for ever.
func (d *Dispatcher) transient(ctx context.Context, log *slog.Logger, job Job, qm queue.Message, attempt *inbox.SendAttempt, cause error) error {
	if qm.ReceiveCount >= queue.MaxReceiveCount {
		return d.fail(ctx, log, job, inbox.MessageError{Title: "WhatsApp unavailable", Message: ReasonUnavailable, Details: cause.Error()})
	}
	if err := d.release(ctx, job, attempt); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("send: %w", cause)
}

// send calls the Graph API and reports whether the request was written in
// full: a request that was not cannot have been acted on.
func (d *Dispatcher) send(ctx context.Context, phoneNumberID, token string, m whatsapp.OutboundMessage) (wamid string, wrote bool, err error) {
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	})
	ctx, cancel := context.WithTimeout(ctx, d.sendTimeout())
	defer cancel()
	d.Counts.GraphCalls.Add(1)
	wamid, err = d.Graph.SendMessage(ctx, phoneNumberID, token, m)
	return wamid, written.Load(), err
}

var (
	errDone    = errors.New("message already sent or failed")
	errInDoubt = errors.New("earlier send attempt in doubt")
	errNotMine = errors.New("send attempt taken over")
)

type busyError struct{ until time.Time }

func (e *busyError) Error() string {
	return "another send attempt is under way until " + e.until.String()
}

// claim records a new attempt on the message before WhatsApp is called.
//
// The crash between WhatsApp accepting a message and RecordSent: WhatsApp
// has no idempotency key for sends, so a redelivered job cannot ask whether
// the first call went through. An attempt left on the message marks that
// doubt. A fresh one (younger than the lease) belongs to a sender that may
// still be working: the job comes back later. A stale one is in doubt and
// the message is failed with a plain reason rather than sent again: a
// duplicate message cannot be taken back, while a failed one is visible and
// one click to resend. Statuses of the first send, if it went out, still
// arrive, carry the message's reference as biz_opaque_callback_data, and
// correct it to its real status.
func (d *Dispatcher) claim(ctx context.Context, job Job) (*inbox.SendAttempt, error) {
	now := d.now()
	mine := &inbox.SendAttempt{ID: ids.New("try"), StartedAt: now}
	err := d.Store.UpdateSendAttempt(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, func(m *inbox.Message, cur *inbox.SendAttempt) (*inbox.SendAttempt, error) {
		switch {
		case done(m):
			return nil, errDone
		case cur != nil && now.Sub(cur.StartedAt) < d.lease():
			return nil, &busyError{until: cur.StartedAt.Add(d.lease())}
		case cur != nil:
			return nil, errInDoubt
		}
		return mine, nil
	})
	if err != nil {
		return nil, err
	}
	return mine, nil
}

// release clears our attempt after WhatsApp definitely did not take the
// message, so the next try is not taken for one in doubt.
func (d *Dispatcher) release(ctx context.Context, job Job, mine *inbox.SendAttempt) error {
	err := d.Store.UpdateSendAttempt(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, func(_ *inbox.Message, cur *inbox.SendAttempt) (*inbox.SendAttempt, error) {
		if cur == nil || cur.ID != mine.ID {
			return nil, errNotMine
		}
		return nil, nil
	})
	if errors.Is(err, errNotMine) {
		return nil // someone else judged it meanwhile; their decision stands
	}
	if err != nil {
		return fmt.Errorf("release send attempt: %w", err)
	}
	return nil
}

// recordSent stores the wamid. It tries hard: if it cannot, the attempt
// stays on the message and a redelivery fails it as in doubt, although it
// was sent; the wamid is logged for reconciliation.
//
// A wamid outside the id alphabet cannot go into a key (it could read as
// another key), yet the message went out: it is recorded as sent without a
// wamid, never failed, and logged and counted for an operator. It stays
// correctable: WhatsApp's statuses carry the message's reference
// (biz_opaque_callback_data), and the first one with a valid wamid gives it
// its wamid and real status.
func (d *Dispatcher) recordSent(ctx context.Context, log *slog.Logger, job Job, wamid string) error {
	if err := ids.Check("wamid", wamid); err != nil {
		d.Counts.BadWamid.Add(1)
		log.ErrorContext(ctx, "reply sent but WhatsApp's wamid is not a valid id; recorded as sent without it", "wamid", fmt.Sprintf("%.200q", wamid), "err", err, metric.UnrecordedWAMID.Attr())
		wamid = ""
	}
	var err error
	for i := range 3 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(i) * 200 * time.Millisecond):
			}
		}
		if err = d.Store.RecordSent(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, wamid, d.now()); err == nil {
			d.Counts.Sent.Add(1)
			log.InfoContext(ctx, "reply sent", "wamid", wamid)
			return nil
		}
	}
	log.ErrorContext(ctx, "reply sent but its wamid could not be recorded", "wamid", wamid, "err", err, metric.UnrecordedWAMID.Attr())
	return fmt.Errorf("record wamid %s: %w", wamid, err)
}

func (d *Dispatcher) fail(ctx context.Context, log *slog.Logger, job Job, reason inbox.MessageError) error {
	if err := d.Store.FailOutbound(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, d.now(), reason); err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	d.Counts.Failed.Add(1)
	log.InfoContext(ctx, "reply failed", "code", reason.Code, "reason", reason.Message)
	return nil
}

func (d *Dispatcher) requeue(ctx context.Context, job Job, attempt int, delay time.Duration) error {
	job.Attempt = attempt
	if err := d.Queue.Send(ctx, queue.Outgoing{Body: job.Encode(), Delay: min(max(delay, 0), queue.MaxDelay)}); err != nil {
		return fmt.Errorf("requeue job: %w", err)
	}
	return nil
}

func done(m *inbox.Message) bool { return m.WAMID != "" || m.Status != inbox.StatusQueued }

func graphReason(ge *whatsapp.GraphError, title, plain string) inbox.MessageError {
	return inbox.MessageError{Code: ge.Code, Title: title, Message: plain, Details: ge.Error()}
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

func (d *Dispatcher) throttle() queue.Throttle { return d.Throttle.Or(DefaultThrottle) }

func (d *Dispatcher) sendTimeout() time.Duration {
	if d.SendTimeout > 0 {
		return d.SendTimeout
	}
	return DefaultSendTimeout
}

func (d *Dispatcher) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return DefaultLease
}
