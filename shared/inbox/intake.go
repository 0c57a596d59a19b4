package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// InboundStore is what inbound processing needs from storage.
type InboundStore interface {
	// IntegrationByPhoneNumber routes a webhook; apperr.NotFound when no
	// integration claims the number.
	IntegrationByPhoneNumber(ctx context.Context, phoneNumberID string) (*integration.Integration, error)
	// SeenMessage reports whether org stored a message with this wamid.
	SeenMessage(ctx context.Context, org, wamid string) (bool, error)
	// ResolveRecord returns the org's record known by any of ids, linking
	// the ids it was not yet known by; when none is known it stores the
	// record create returns, exactly once even under concurrent calls.
	// The record's owner pick is stored with it (see integration.Pick).
	ResolveRecord(ctx context.Context, org string, ids []records.Identity, create func() (*records.Record, integration.Pick, error)) (*records.Record, error)
	// SaveInbound stores msg and folds it into its conversation (newConv
	// when the conversation does not exist yet) with apply, atomically.
	// It reports duplicate, changing nothing, when msg is already stored.
	SaveInbound(ctx context.Context, newConv *Conversation, msg *Message, apply func(*Conversation)) (duplicate bool, err error)
	// ApplyStatus applies a status to one of org's outbound messages with
	// Message.ApplyStatus, finding it by ref (nil when the status carries
	// none of ours) or by the wamid. A status that finds no message waits
	// for the message to record its wamid; applied is false then, and
	// when it changed nothing.
	ApplyStatus(ctx context.Context, org string, ref *MessageRef, u StatusUpdate) (applied bool, err error)
}

// MediaQueue takes the job of copying a new message's media into our blob
// store (media.Enqueuer implements it): Meta's media ids expire after 7
// days, so the copy is made at once, off the intake path.
type MediaQueue interface {
	EnqueueMedia(ctx context.Context, m *Message) error
}

// Quarantine keeps a signed body that cannot be processed in full, with
// the reasons (httpapi.Quarantine), and returns where.
type Quarantine interface {
	Keep(ctx context.Context, body []byte, reason string, problems []whatsapp.Problem) (key string, err error)
}

// MaxClockSkew is how far ahead of its receipt a timestamp may be: a
// message dated later (a sender's clock, or a forged payload) would open
// the customer service window beyond 24 hours, so it is clamped to the
// receipt time and flagged.
const MaxClockSkew = 5 * time.Minute

// OwnerPicker picks the owner of a new record.
type OwnerPicker interface {
	Owner(ctx context.Context, integ *integration.Integration) (integration.Pick, error)
}

// InboundCounts are running totals, for logs and /debug/vars.
type InboundCounts struct {
	Messages, Duplicates, Statuses, StaleStatuses, PendingStatuses atomic.Int64
	UnknownNumber, InactiveNumber, Unparseable, OtherFields        atomic.Int64
	MediaJobs                                                      atomic.Int64
	// Malformed counts parts of bodies that could not be read, RefusedIDs
	// messages and statuses refused for an id outside the ids alphabet (both
	// kept under malformed/); FutureTimestamps timestamps clamped to the
	// receipt time; WebhookErrors the errors Meta reports in value.errors.
	Malformed, RefusedIDs, FutureTimestamps, WebhookErrors atomic.Int64
}

// Intake turns webhook bodies into stored messages, records and
// conversations. Every step is idempotent: a body may be handled any number
// of times, in any order relative to others.
type Intake struct {
	Store  InboundStore
	Owners OwnerPicker
	// Media receives a job for every new message with media; a media
	// message fails (and its body is retried) without it.
	Media MediaQueue
	// Quarantine keeps bodies, or the parts of them, that cannot be stored.
	Quarantine Quarantine
	Log        *slog.Logger
	Now        func() time.Time
	Counts     InboundCounts
}

// ErrUnprocessable marks a body that can never be processed; retrying it is
// pointless, so consumers drop it. It was kept under malformed/ first.
var ErrUnprocessable = errors.New("unprocessable webhook body")

// HandleBody processes one webhook body as Meta posted it. It stores every
// message and status it can read; the parts it cannot (unreadable, or with
// an id outside the ids alphabet) are counted and the body is kept with the
// reasons. It returns an error only when a retry could succeed (the whole
// body is then retried; what was already stored is skipped as duplicate),
// or ErrUnprocessable.
func (s *Intake) HandleBody(ctx context.Context, body []byte) error {
	n, err := whatsapp.Parse(body)
	if err != nil {
		s.Counts.Unparseable.Add(1)
		if err := s.keep(ctx, body, "unreadable webhook body: "+err.Error(), nil); err != nil {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUnprocessable, err)
	}
	s.Counts.Malformed.Add(int64(len(n.Problems)))
	problems := append(n.Problems, s.refuseBadIDs(n)...)
	if len(problems) > 0 {
		reason := fmt.Sprintf("%d part(s) of the body could not be stored", len(problems))
		if err := s.keep(ctx, body, reason, problems); err != nil {
			return err
		}
	}
	var errs []error
	for _, entry := range n.Entry {
		for _, change := range entry.Changes {
			if change.Field != "messages" {
				s.Counts.OtherFields.Add(1)
				s.log().InfoContext(ctx, "webhook field ignored", "field", change.Field, "waba", entry.ID)
				continue
			}
			if err := s.handleValue(ctx, &change.Value); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// keep quarantines body; an error means the body should be retried.
func (s *Intake) keep(ctx context.Context, body []byte, reason string, problems []whatsapp.Problem) error {
	if s.Quarantine == nil {
		return errors.New("keep malformed webhook body: no quarantine configured")
	}
	key, err := s.Quarantine.Keep(ctx, body, reason, problems)
	if err != nil {
		return fmt.Errorf("keep malformed webhook body: %w", err)
	}
	s.log().WarnContext(ctx, "malformed webhook kept", "key", key, "reason", reason, "problems", len(problems), metric.MalformedWebhook.Attr())
	return nil
}

// refuseBadIDs removes from n every message and status whose ids cannot
// go into a key (a control character, a separator, none at all), and the
// contacts with such ids, counting them and returning why. A value whose
// phone number id is bad loses all of them: it cannot be routed.
func (s *Intake) refuseBadIDs(n *whatsapp.Notification) []whatsapp.Problem {
	var problems []whatsapp.Problem
	refuse := func(path string, err error) {
		s.Counts.RefusedIDs.Add(1)
		problems = append(problems, whatsapp.Problem{Path: path, Reason: err.Error()})
	}
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			v := &n.Entry[i].Changes[j].Value
			path := fmt.Sprintf("entry[%d].changes[%d].value", i, j)
			if len(v.Messages) == 0 && len(v.Statuses) == 0 {
				continue
			}
			if err := ids.Check("metadata.phone_number_id", v.Metadata.PhoneNumberID); err != nil {
				refuse(path+".metadata", err)
				v.Messages, v.Statuses = nil, nil
				continue
			}
			v.Contacts = keepValid(v.Contacts, path+".contacts", refuse, func(c *whatsapp.Contact) error {
				return optionalIDs("contact", c.WaID, c.UserID)
			})
			v.Messages = keepValid(v.Messages, path+".messages", refuse, func(m *whatsapp.Message) error {
				if err := ids.Check("wamid", m.ID); err != nil {
					return err
				}
				if err := optionalIDs("sender", m.From, m.FromUserID); err != nil {
					return err
				}
				if c := customerOf(m, v.Contacts); c.WaID == "" && c.UserID == "" {
					return fmt.Errorf("%w: message %s has no sender", ids.ErrInvalid, m.ID)
				}
				return nil
			})
			v.Statuses = keepValid(v.Statuses, path+".statuses", refuse, func(st *whatsapp.Status) error {
				return ids.Check("status id (wamid)", st.ID)
			})
		}
	}
	return problems
}

// keepValid returns the items check accepts, in place, refusing the others.
func keepValid[T any](items []T, path string, refuse func(string, error), check func(*T) error) []T {
	kept := items[:0]
	for k := range items {
		if err := check(&items[k]); err != nil {
			refuse(fmt.Sprintf("%s[%d]", path, k), err)
			continue
		}
		kept = append(kept, items[k])
	}
	return kept
}

// optionalIDs checks a wa_id and a BSUID, either of which may be absent.
func optionalIDs(what, waID, userID string) error {
	if waID != "" {
		if err := ids.Check(what+" wa_id", waID); err != nil {
			return err
		}
	}
	if userID != "" {
		if err := ids.Check(what+" user_id", userID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Intake) handleValue(ctx context.Context, v *whatsapp.Value) error {
	pnid := v.Metadata.PhoneNumberID
	for _, e := range v.Errors {
		s.Counts.WebhookErrors.Add(1)
		s.log().WarnContext(ctx, "webhook error from Meta", "phoneNumberId", pnid, "code", e.Code, "title", e.Title,
			"message", e.Message, "details", e.Details(), metric.WebhookError.Attr())
	}
	if len(v.Messages) == 0 && len(v.Statuses) == 0 {
		return nil
	}
	integ, err := s.Store.IntegrationByPhoneNumber(ctx, pnid)
	switch {
	case apperr.Is(err, apperr.NotFound):
		s.Counts.UnknownNumber.Add(int64(len(v.Messages) + len(v.Statuses)))
		s.log().WarnContext(ctx, "webhook for unknown number dropped", "phoneNumberId", pnid,
			"messages", len(v.Messages), "statuses", len(v.Statuses), metric.DroppedUnknownNumber.Attr())
		return nil
	case err != nil:
		return fmt.Errorf("route phone number %s: %w", pnid, err)
	case !integ.Active:
		s.Counts.InactiveNumber.Add(int64(len(v.Messages) + len(v.Statuses)))
		s.log().WarnContext(ctx, "webhook for deactivated number dropped", "phoneNumberId", pnid,
			"org", integ.Org, "integration", integ.ID, "messages", len(v.Messages), metric.DroppedInactiveNumber.Attr())
		return nil
	}

	var errs []error
	for i := range v.Messages {
		if err := s.handleMessage(ctx, integ, v.Contacts, &v.Messages[i]); err != nil {
			errs = append(errs, fmt.Errorf("message %s: %w", v.Messages[i].ID, err))
		}
	}
	for i := range v.Statuses {
		if err := s.handleStatus(ctx, integ, &v.Statuses[i]); err != nil {
			errs = append(errs, fmt.Errorf("status %s of %s: %w", v.Statuses[i].Status, v.Statuses[i].ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Intake) handleMessage(ctx context.Context, integ *integration.Integration, contacts []whatsapp.Contact, wm *whatsapp.Message) error {
	seen, err := s.Store.SeenMessage(ctx, integ.Org, wm.ID)
	if err != nil {
		return err
	}
	if seen {
		s.Counts.Duplicates.Add(1)
		return nil
	}

	customer := customerOf(wm, contacts) // refuseBadIDs made sure there is one
	identities := nonEmpty(records.WaIdentity(customer.WaID), records.UserIdentity(customer.UserID))
	rec, err := s.Store.ResolveRecord(ctx, integ.Org, identities, func() (*records.Record, integration.Pick, error) {
		pick, err := s.Owners.Owner(ctx, integ)
		if err != nil {
			return nil, pick, err
		}
		return newRecord(integ, customer, pick.Owner, s.now()), pick, nil
	})
	if err != nil {
		return fmt.Errorf("resolve sender record: %w", err)
	}

	msg := messageFrom(integ.Org, wm, s.now())
	if msg.TimestampClamped {
		s.Counts.FutureTimestamps.Add(1)
		s.log().WarnContext(ctx, "message dated in the future: clamped to its receipt", "wamid", wm.ID,
			"timestamp", wm.Timestamp, metric.FutureTimestamp.Attr())
	}
	conv := &Conversation{
		Org:           integ.Org,
		ID:            ConversationID(integ.Org, integ.PhoneNumberID, rec.ID),
		IntegrationID: integ.ID,
		PhoneNumberID: integ.PhoneNumberID,
		Customer:      customer,
		Record:        RecordRef{Module: rec.Module, ID: rec.ID},
		OwnerID:       rec.OwnerID,
		CreatedAt:     s.now(),
	}
	msg.ConversationID = conv.ID
	if err := s.enqueueMedia(ctx, msg); err != nil {
		return err
	}
	dup, err := s.Store.SaveInbound(ctx, conv, msg, func(c *Conversation) {
		if customer.Name != "" {
			c.Customer.Name = customer.Name
		}
		if c.Customer.WaID == "" {
			c.Customer.WaID = customer.WaID
		}
		if c.Customer.UserID == "" {
			c.Customer.UserID = customer.UserID
		}
		// The record's owner wins: this heals a conversation that read the
		// record just before an owner change.
		c.OwnerID = rec.OwnerID
		c.ApplyInbound(msg, wm.Type != "system")
	})
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if dup {
		s.Counts.Duplicates.Add(1)
		return nil
	}
	s.Counts.Messages.Add(1)
	s.log().InfoContext(ctx, "message stored", "org", integ.Org, "conversation", conv.ID, "wamid", wm.ID, "type", wm.Type)
	return nil
}

// enqueueMedia asks for msg's media to be copied. It runs before the
// message is saved: a crash in between leaves a job that finds the message
// once the retried body saves it, while saving first could leave a stored
// message whose media nobody copies. A job that beats the save to the
// consumer is retried by the queue.
func (s *Intake) enqueueMedia(ctx context.Context, msg *Message) error {
	if msg.Media == nil || msg.Media.WhatsAppID == "" {
		return nil
	}
	if s.Media == nil {
		return errors.New("media message, but no media queue is configured")
	}
	if err := s.Media.EnqueueMedia(ctx, msg); err != nil {
		return fmt.Errorf("enqueue media copy: %w", err)
	}
	s.Counts.MediaJobs.Add(1)
	return nil
}

// handleStatus applies a status inside the org that owns the number it
// came on: its wamid and callback data are looked up there only.
func (s *Intake) handleStatus(ctx context.Context, integ *integration.Integration, ws *whatsapp.Status) error {
	ts, err := ws.Time()
	if err != nil {
		ts = s.now()
	}
	if ts.After(s.now().Add(MaxClockSkew)) {
		s.Counts.FutureTimestamps.Add(1)
		s.log().WarnContext(ctx, "status dated in the future: clamped to its receipt", "wamid", ws.ID,
			"timestamp", ws.Timestamp, metric.FutureTimestamp.Attr())
		ts = s.now()
	}
	u := StatusUpdate{WAMID: ws.ID, Status: Status(ws.Status), Timestamp: ts.UTC()}
	for _, e := range ws.Errors {
		u.Errors = append(u.Errors, messageError(e))
	}
	if p := ws.Pricing; p != nil {
		u.Pricing = &Pricing{Billable: p.Billable, Model: p.PricingModel, Category: p.Category, Type: p.Type}
	}
	if u.Status.Rank() == 0 {
		s.log().InfoContext(ctx, "status ignored", "wamid", ws.ID, "status", ws.Status)
		return nil
	}
	var ref *MessageRef
	if r, ok := ParseMessageRef(ws.BizOpaqueCallbackData); ok {
		ref = &r
	}
	applied, err := s.Store.ApplyStatus(ctx, integ.Org, ref, u)
	if err != nil {
		return err
	}
	s.Counts.Statuses.Add(1)
	if !applied {
		s.Counts.StaleStatuses.Add(1)
	}
	return nil
}

// ConversationID is derived, so every delivery of a customer's messages to
// one number lands in the same conversation without a lookup.
func ConversationID(org, phoneNumberID, recordID string) string {
	return ids.Derive("conv", org, phoneNumberID, recordID)
}

func customerOf(wm *whatsapp.Message, contacts []whatsapp.Contact) Customer {
	c := Customer{WaID: wm.From, UserID: wm.FromUserID}
	for _, ct := range contacts {
		if (c.WaID != "" && ct.WaID == c.WaID) || (c.UserID != "" && ct.UserID == c.UserID) || len(contacts) == 1 {
			if c.WaID == "" {
				c.WaID = ct.WaID
			}
			if c.UserID == "" {
				c.UserID = ct.UserID
			}
			c.Name = ct.Profile.Name
			break
		}
	}
	return c
}

func newRecord(integ *integration.Integration, c Customer, owner string, now time.Time) *records.Record {
	first, last := records.NameFromProfile(c.Name)
	module := integ.Preferences.UnknownSenders
	if module == "" {
		module = records.Leads
	}
	if first == "" && last == "" {
		last = "WhatsApp " + firstNonEmpty(c.WaID, c.UserID)
	}
	r := &records.Record{
		Org: integ.Org, Module: module, ID: ids.New("rec"),
		FirstName: first, LastName: last,
		WaID: c.WaID, WaUserID: c.UserID, OwnerID: owner,
		CreatedAt: now, UpdatedAt: now,
	}
	if c.WaID != "" {
		r.Phone = "+" + c.WaID
	}
	return r
}

// messageFrom makes the message to store. Its strings come out of the JSON
// decoder, which already replaced invalid UTF-8; Content holds the raw
// bytes, so they are made valid here.
func messageFrom(org string, wm *whatsapp.Message, now time.Time) *Message {
	ts, err := wm.Time()
	if err != nil {
		ts = now
	}
	clamped := ts.After(now.Add(MaxClockSkew))
	if clamped {
		ts = now
	}
	content := wm.Raw
	if !utf8.Valid(content) {
		content = bytes.ToValidUTF8(content, []byte(string(utf8.RuneError)))
	}
	m := &Message{
		Org: org, ID: wm.ID, WAMID: wm.ID, Direction: Inbound, Type: wm.Type,
		Preview: wm.Preview(), Timestamp: ts.UTC(), TimestampClamped: clamped, Status: StatusReceived, StatusAt: now,
		Content: json.RawMessage(content),
	}
	switch {
	case wm.Text != nil:
		m.Text = wm.Text.Body
	case wm.Button != nil:
		m.Text = wm.Button.Text
	case wm.Interactive != nil && wm.Interactive.ButtonReply != nil:
		m.Text = wm.Interactive.ButtonReply.Title
	case wm.Interactive != nil && wm.Interactive.ListReply != nil:
		m.Text = wm.Interactive.ListReply.Title
	case wm.Reaction != nil:
		m.Text = wm.Reaction.Emoji
	}
	if md := wm.MediaInfo(); md != nil {
		m.Media = &Media{WhatsAppID: md.ID, MimeType: md.MimeType, SHA256: md.SHA256, Caption: md.Caption, Filename: md.Filename}
		if m.Text == "" {
			m.Text = md.Caption
		}
	}
	switch {
	case wm.Reaction != nil:
		m.ReplyTo = wm.Reaction.MessageID
	case wm.Context != nil:
		m.ReplyTo = wm.Context.ID
	}
	for _, e := range wm.Errors {
		m.Errors = append(m.Errors, messageError(e))
	}
	return m
}

func messageError(e whatsapp.Error) MessageError {
	me := MessageError{Code: e.Code, Title: e.Title, Message: e.Message}
	if e.ErrorData != nil {
		me.Details = e.ErrorData.Details
	}
	return me
}

func (s *Intake) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Intake) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func nonEmpty(ids ...records.Identity) []records.Identity {
	out := ids[:0]
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
