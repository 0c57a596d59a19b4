package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/records"
)

// Limits of a reply.
const (
	// MaxAttachments is how many attachments one reply may carry.
	MaxAttachments = 5
	// MaxIdempotencyKey bounds the Idempotency-Key header.
	MaxIdempotencyKey = 255
)

// ReplyStore is what replying needs from storage.
type ReplyStore interface {
	// Conversation returns one of org's conversations; apperr.NotFound
	// when org has none with this id.
	Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error)
	// Integration returns one of org's integrations; apperr.NotFound when absent.
	Integration(ctx context.Context, org, id string) (*integration.Integration, error)
	// Record returns one record; apperr.NotFound when absent.
	Record(ctx context.Context, org string, module records.Module, id string) (*records.Record, error)
	// OutboundByIdempotencyKey returns the reply user stored under key
	// and the hash of the request that stored it; apperr.NotFound when
	// the key is unused (or expired).
	OutboundByIdempotencyKey(ctx context.Context, org, user, key string) (msg *inbox.Message, requestHash string, err error)
	// PutCharged stores msg and folds it into its conversation with
	// apply, atomically, keeping requestHash with idemKey. When idemKey
	// was used already it stores nothing and returns the earlier message
	// and its request's hash.
	// charge (nil: free) debits its price in the same transaction.
	PutCharged(ctx context.Context, msg *inbox.Message, idemKey, requestHash string, apply func(*inbox.Conversation) error,
		charge func(*billing.Account, *inbox.Conversation, *inbox.Message) error) (stored *inbox.Message, storedHash string, err error)
	// FailOutbound marks a message that was never sent as failed.
	FailOutbound(ctx context.Context, org, conversationID string, ts time.Time, id string, at time.Time, reason inbox.MessageError) error
}

// CannedResponses finds canned responses.
type CannedResponses interface {
	// CannedResponse returns one of org's canned responses; apperr.NotFound
	// when absent.
	CannedResponse(ctx context.Context, org, id string) (*canned.Response, error)
}

// ReplyRequest is what a user asks to send: typed text or a canned
// response, exactly one.
type ReplyRequest struct {
	Text             string
	CannedResponseID string
	AttachmentIDs    []string
	// IdempotencyKey, when set, makes a repeated request return the first
	// reply instead of sending another. It is the user's own (another
	// user's same key is another reply), remembered for 48 hours (the
	// store's retention), and bound to its first request: the same key
	// with another conversation, text, canned response or attachments is
	// refused.
	IdempotencyKey string
}

// requestHash identifies what a reply request asks for, so a retry can be
// told apart from a key reused for another reply (Stripe's rule).
func requestHash(conversationID string, req ReplyRequest) string {
	b, _ := json.Marshal([]any{conversationID, req.Text, req.CannedResponseID, req.AttachmentIDs}) // strings always encode
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Replies stores replies and hands them to the outbound queue.
type Replies struct {
	Store  ReplyStore
	Canned CannedResponses
	Queue  queue.Sender
	// Rates prices replies; each is debited from the org's credits in the
	// transaction that queues it. Without it replies are free.
	Rates *billing.RateCard
	Log   *slog.Logger
	Now   func() time.Time
}

// ReasonNotQueued is why a reply the API could not hand to the queue failed.
const ReasonNotQueued = "The message could not be queued for sending; send it again."

// Reply checks that p may answer the conversation now, renders the text,
// stores it as queued and enqueues it. replayed is true when the
// Idempotency-Key had been used: msg is then the first reply (enqueued
// again if it is still waiting, since the first enqueue may have failed).
//
// Errors: apperr.Invalid (request), apperr.AttachmentsUnavailable,
// apperr.InsufficientCredits (the balance does not cover the price: nothing
// stored or queued),
// apperr.NotFound (conversation or canned response), apperr.Inactive,
// apperr.NotStarted, apperr.WindowClosed, apperr.MergeFieldsMissing,
// apperr.IdempotencyKeyReused (the key came with another request); others
// are internal, including a failed enqueue, after which the same request
// with the same key may be retried.
func (s *Replies) Reply(ctx context.Context, p auth.Principal, conversationID string, req ReplyRequest) (msg *inbox.Message, replayed bool, err error) {
	if err := validate(req); err != nil {
		return nil, false, err
	}
	hash := requestHash(conversationID, req)
	if req.IdempotencyKey != "" {
		prev, prevHash, err := s.Store.OutboundByIdempotencyKey(ctx, p.Org, p.UserID, req.IdempotencyKey)
		switch {
		case err == nil:
			return s.replay(ctx, prev, prevHash, hash)
		case !apperr.Is(err, apperr.NotFound):
			return nil, false, fmt.Errorf("look up idempotency key: %w", err)
		}
	}

	now := s.now()
	conv, err := s.Store.Conversation(ctx, p.Org, conversationID)
	if err != nil {
		return nil, false, err
	}
	if err := s.checkIntegration(ctx, conv); err != nil {
		return nil, false, err
	}
	if err := checkWindow(conv, now); err != nil {
		return nil, false, err
	}
	text, err := s.render(ctx, p.Org, conv, req)
	if err != nil {
		return nil, false, err
	}

	m := &inbox.Message{
		Org: p.Org, ConversationID: conv.ID, ID: ids.New("msg"),
		Direction: inbox.Outbound, Type: "text", Text: text, Preview: preview(text),
		Timestamp: now, Status: inbox.StatusQueued, StatusAt: now, SentBy: p.UserID,
	}
	stored, storedHash, err := s.Store.PutCharged(ctx, m, req.IdempotencyKey, hash, func(c *inbox.Conversation) error {
		// The window only grows with new customer messages, but the check
		// is cheap and keeps the write honest on its own.
		if err := checkWindow(c, now); err != nil {
			return err
		}
		c.ApplyReply(p.UserID, m.Preview, now)
		return nil
	}, s.charge(p, now))
	if err != nil {
		return nil, false, err
	}
	if stored.ID != m.ID { // a concurrent request with the same key won
		return s.replay(ctx, stored, storedHash, hash)
	}
	if err := s.enqueue(ctx, stored); err != nil {
		if req.IdempotencyKey == "" {
			// Nobody can retry this message: show it failed rather than
			// queued for ever. (With a key it stays queued, and the
			// retry enqueues it.)
			reason := inbox.MessageError{Title: "Not queued", Message: ReasonNotQueued}
			if ferr := s.Store.FailOutbound(ctx, p.Org, conv.ID, stored.Timestamp, stored.ID, now, reason); ferr != nil {
				err = errors.Join(err, ferr)
			}
		}
		return nil, false, err
	}
	s.log().InfoContext(ctx, "reply queued", "org", p.Org, "conversation", conv.ID, "message", stored.ID, "user", p.UserID)
	return stored, false, nil
}

// charge is the debit of a reply by p, or nil when replies are free.
func (s *Replies) charge(p auth.Principal, now time.Time) func(*billing.Account, *inbox.Conversation, *inbox.Message) error {
	if s.Rates == nil {
		return nil
	}
	return ChargeReply(s.Rates, p.UserID, now)
}

// ChargeReply is the charge step of a reply by userID at now: a free-form
// reply inside the customer service window is a service message, priced by
// rates for the customer's market and debited from the account; the price
// is kept on the message and a conversation it opens on the conversation.
// Its errors (402 insufficient_credits) leave everything unchanged.
func ChargeReply(rates *billing.RateCard, userID string, now time.Time) func(*billing.Account, *inbox.Conversation, *inbox.Message) error {
	return func(a *billing.Account, c *inbox.Conversation, m *inbox.Message) error {
		ch, paidUntil, err := rates.ChargeReply(a, c.Customer.WaID, billing.CategoryService, c.PaidUntil,
			billing.Entry{ConversationID: c.ID, MessageID: m.ID, UserID: userID}, now)
		if err != nil {
			return err
		}
		m.Charge = ch
		if paidUntil != nil {
			c.PaidUntil = paidUntil
		}
		return nil
	}
}

func (s *Replies) replay(ctx context.Context, prev *inbox.Message, prevHash, hash string) (*inbox.Message, bool, error) {
	if prevHash != hash {
		return nil, false, apperr.E(apperr.IdempotencyKeyReused,
			"This Idempotency-Key was already used for another request (another conversation, text, canned response or attachments); use a new key for a new reply.")
	}
	if prev.Status == inbox.StatusQueued && prev.WAMID == "" {
		// The first request may have stored the reply and then failed to
		// enqueue it; enqueueing again is safe, a sent message is skipped.
		if err := s.enqueue(ctx, prev); err != nil {
			return nil, false, err
		}
	}
	return prev, true, nil
}

func (s *Replies) enqueue(ctx context.Context, m *inbox.Message) error {
	job := Job{Org: m.Org, ConversationID: m.ConversationID, MessageID: m.ID, Timestamp: m.Timestamp, Attempt: 1}
	if err := s.Queue.Send(ctx, queue.Outgoing{Body: job.Encode()}); err != nil {
		return fmt.Errorf("enqueue reply %s: %w", m.ID, err)
	}
	return nil
}

func validate(req ReplyRequest) error {
	switch {
	case (req.Text == "") == (req.CannedResponseID == ""):
		return apperr.E(apperr.Invalid, "Send either text or cannedResponseId, exactly one of them.")
	case len(req.AttachmentIDs) > MaxAttachments:
		return apperr.E(apperr.Invalid, "A reply can carry at most %d attachments; this one has %d.", MaxAttachments, len(req.AttachmentIDs))
	case len(req.AttachmentIDs) > 0:
		return apperr.E(apperr.AttachmentsUnavailable, "Attachments cannot be sent yet; send the text without attachmentIds.")
	case len(req.IdempotencyKey) > MaxIdempotencyKey:
		return apperr.E(apperr.Invalid, "The Idempotency-Key is longer than %d characters.", MaxIdempotencyKey)
	}
	for _, r := range req.IdempotencyKey {
		if r < 0x21 || r > 0x7e {
			return apperr.E(apperr.Invalid, "The Idempotency-Key may only hold visible ASCII characters.")
		}
	}
	return nil
}

func (s *Replies) checkIntegration(ctx context.Context, conv *inbox.Conversation) error {
	integ, err := s.Store.Integration(ctx, conv.Org, conv.IntegrationID)
	if apperr.Is(err, apperr.NotFound) {
		return apperr.Wrap(err, apperr.Inactive, "The WhatsApp number of this conversation is no longer connected, so replies cannot be sent.")
	}
	if err != nil {
		return err
	}
	if !integ.Active {
		return apperr.E(apperr.Inactive, "The WhatsApp number %q is deactivated, so replies cannot be sent; an admin can re-activate it.", integ.Nickname)
	}
	return nil
}

func checkWindow(c *inbox.Conversation, now time.Time) error {
	if c.LastInboundAt.IsZero() {
		return apperr.E(apperr.NotStarted, "The customer has not written yet; only the customer can start a conversation (the business could, with an approved template).")
	}
	if !c.WindowOpen(now) {
		return apperr.E(apperr.WindowClosed, "The 24-hour window closed at %s (24 hours after the customer's last message); only an approved template may be sent now.",
			c.WindowExpiresAt().UTC().Format(time.RFC3339))
	}
	return nil
}

// render returns the text to send: typed or canned, merge fields filled
// from the conversation's record exactly as the preview shows them. Empty
// fields are allowed (the preview lists them), but a text whose every field
// is empty is refused: the customer would get a skeleton, typically because
// the canned response is for the other module.
func (s *Replies) render(ctx context.Context, org string, conv *inbox.Conversation, req ReplyRequest) (string, error) {
	text, textModule := req.Text, records.Module("")
	if req.CannedResponseID != "" {
		if s.Canned == nil {
			return "", errors.New("reply: no canned response store configured")
		}
		cr, err := s.Canned.CannedResponse(ctx, org, req.CannedResponseID)
		if err != nil {
			return "", err
		}
		text, textModule = cr.Text, cr.Module
	}
	var rec *records.Record
	if len(canned.Fields(text)) > 0 {
		var err error
		rec, err = s.Store.Record(ctx, org, conv.Record.Module, conv.Record.ID)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return "", err
		}
	}
	p := canned.NewPreview(text, textModule, conv.Record.Module, rec)
	switch {
	case len(p.Fields) > 0 && len(p.Missing) == len(p.Fields):
		return "", apperr.E(apperr.MergeFieldsMissing, "Every merge field of this reply is empty for the %s record (%s); fill them in on the record or write the text yourself.",
			conv.Record.Module, strings.Join(p.Missing, ", "))
	case strings.TrimSpace(p.Text) == "":
		return "", apperr.E(apperr.Invalid, "The reply is empty.")
	case p.TooLong:
		return "", apperr.E(apperr.Invalid, "The reply has %d characters; WhatsApp allows at most %d.", p.Length, canned.MaxTextLength)
	}
	return p.Text, nil
}

// preview is the start of a text, for the Messages tab's list.
func preview(text string) string {
	const maxRunes = 100
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= maxRunes {
		return text
	}
	r := []rune(text)
	return string(r[:maxRunes-1]) + "…"
}

func (s *Replies) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Replies) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
