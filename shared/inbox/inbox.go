// Package inbox models WhatsApp conversations between a business number and
// a customer: their messages, the 24-hour customer service window, and the
// answered/unanswered state the Messages tab filters on.
package inbox

import (
	"encoding/json"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/records"
)

// Window is the customer service window: how long after the customer's last
// message the business may send free-form messages.
const Window = 24 * time.Hour

// Direction of a message.
type Direction string

const (
	Inbound  Direction = "in"
	Outbound Direction = "out"
)

// Status of a message. Outbound messages move queued -> sent -> delivered ->
// read, or fail; inbound messages are received.
type Status string

const (
	StatusReceived  Status = "received"
	StatusQueued    Status = "queued"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
	StatusRead      Status = "read"
)

// Rank orders outbound statuses so that updates never go backwards, whatever
// order the webhooks arrive in. Read proves delivery, so it outranks a
// failure; a failure outranks sent and delivered. Unknown statuses rank 0.
func (s Status) Rank() int64 {
	switch s {
	case StatusQueued:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusFailed:
		return 4
	case StatusRead:
		return 5
	}
	return 0
}

// Customer identifies the person on the other side.
type Customer struct {
	WaID   string `json:"waId,omitempty"`
	UserID string `json:"userId,omitempty"` // business-scoped user id
	Name   string `json:"name,omitempty"`   // WhatsApp profile name
}

// RecordRef points at the CRM record a conversation is filed against.
type RecordRef struct {
	Module records.Module `json:"module"`
	ID     string         `json:"id"`
}

// Conversation is the thread between one business number and one customer.
type Conversation struct {
	Org           string    `json:"org"`
	ID            string    `json:"id"`
	IntegrationID string    `json:"integrationId"`
	PhoneNumberID string    `json:"phoneNumberId"`
	Customer      Customer  `json:"customer"`
	Record        RecordRef `json:"record"`
	OwnerID       string    `json:"ownerId"`

	LastInboundAt      time.Time `json:"lastInboundAt,omitzero"`
	LastMessageAt      time.Time `json:"lastMessageAt"`
	LastMessagePreview string    `json:"lastMessagePreview,omitempty"`
	LastDirection      Direction `json:"lastDirection,omitempty"`

	// UnansweredSince is the time of the earliest customer message not yet
	// followed by a reply; nil when answered (or never written).
	UnansweredSince *time.Time `json:"unansweredSince,omitempty"`
	AnsweredBy      string     `json:"answeredBy,omitempty"`
	AnsweredAt      *time.Time `json:"answeredAt,omitempty"`
	UnreadCount     int        `json:"unreadCount"`
	// PaidUntil is when the 24-hour conversation already paid for ends
	// (the conversation pricing model): replies before it cost nothing.
	PaidUntil *time.Time `json:"paidUntil,omitempty"`
	// WindowClosedAt is set when the window's schedule saw it close; a
	// new customer message opens it again.
	WindowClosedAt *time.Time `json:"windowClosedAt,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
}

// WindowExpiresAt is when the customer service window closes.
func (c *Conversation) WindowExpiresAt() time.Time {
	if c.LastInboundAt.IsZero() {
		return time.Time{}
	}
	return c.LastInboundAt.Add(Window)
}

// CloseWindow marks the window that closes at closesAt closed. It reports
// false when that is not the current window (a later message extended it)
// or it is marked already.
func (c *Conversation) CloseWindow(closesAt time.Time) bool {
	if !c.WindowExpiresAt().Equal(closesAt) || c.WindowClosedAt != nil {
		return false
	}
	t := closesAt.UTC()
	c.WindowClosedAt = &t
	return true
}

// WindowOpen reports whether free-form messages may be sent at now.
func (c *Conversation) WindowOpen(now time.Time) bool {
	return !c.LastInboundAt.IsZero() && now.Before(c.WindowExpiresAt())
}

// Message is one message in a conversation.
type Message struct {
	Org            string    `json:"org"`
	ConversationID string    `json:"conversationId"`
	ID             string    `json:"id"`              // stable id; the wamid for inbound messages
	WAMID          string    `json:"wamid,omitempty"` // WhatsApp message id, once known
	Direction      Direction `json:"direction"`
	Type           string    `json:"type"` // text, image, ..., as WhatsApp names it
	Text           string    `json:"text,omitempty"`
	Preview        string    `json:"preview,omitempty"`
	Timestamp      time.Time `json:"timestamp"`
	// TimestampClamped is set when the timestamp Meta sent was more than
	// MaxClockSkew after the message arrived: Timestamp is the arrival then.
	TimestampClamped bool      `json:"timestampClamped,omitempty"`
	Status           Status    `json:"status"`
	StatusAt         time.Time `json:"statusAt,omitzero"`

	Media     *Media          `json:"media,omitempty"`
	ReplyTo   string          `json:"replyTo,omitempty"` // wamid this message answers or reacts to
	Content   json.RawMessage `json:"content,omitempty"` // the type-specific part as WhatsApp sent it
	Errors    []MessageError  `json:"errors,omitempty"`  // why it failed
	Pricing   *Pricing        `json:"pricing,omitempty"` // from status webhooks
	Charge    *billing.Charge `json:"charge,omitempty"`  // what the org paid for it, beside Meta's pricing
	SentBy    string          `json:"sentBy,omitempty"`  // CRM user who sent an outbound message
	Delivered *time.Time      `json:"deliveredAt,omitempty"`
	Read      *time.Time      `json:"readAt,omitempty"`
	// History keeps the failures a later status overtook: a failed that
	// the customer's read proved wrong, or a send judged lost that
	// WhatsApp confirmed after all.
	History []StatusChange `json:"history,omitempty"`
}

// Media describes an attachment of a message.
type Media struct {
	WhatsAppID string `json:"whatsappId,omitempty"` // media id at Meta (valid 7 days)
	MimeType   string `json:"mimeType,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Caption    string `json:"caption,omitempty"`
	Filename   string `json:"filename,omitempty"`
	BlobKey    string `json:"blobKey,omitempty"` // our copy, once fetched
	Size       int64  `json:"size,omitempty"`    // bytes of our copy
	// Error says in a plain sentence why no copy could be kept (too large,
	// expired at WhatsApp, ...); empty while the copy is pending or done.
	Error string `json:"error,omitempty"`
}

// MessageError is an error WhatsApp reported for a message.
type MessageError struct {
	Code    int    `json:"code"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
}

// Pricing is what WhatsApp says it charged for a message.
type Pricing struct {
	Billable bool   `json:"billable"`
	Model    string `json:"model,omitempty"` // CBP (conversation-based) or PMP (per message)
	Category string `json:"category,omitempty"`
	Type     string `json:"type,omitempty"`
}

// StatusUpdate is a status webhook for one of our outbound messages.
type StatusUpdate struct {
	WAMID     string
	Status    Status
	Timestamp time.Time
	Errors    []MessageError
	Pricing   *Pricing
}

// ApplyInbound folds an inbound message into the conversation. It is
// order-independent: applying the same set of messages in any order gives
// the same conversation (except UnreadCount, which counts arrivals).
func (c *Conversation) ApplyInbound(m *Message, countsAsCustomer bool) {
	// WhatsApp timestamps have one-second resolution: on a tie the later
	// arrival is the better guess at the latest message.
	if !m.Timestamp.Before(c.LastMessageAt) {
		c.LastMessageAt = m.Timestamp
		c.LastMessagePreview = m.Preview
		c.LastDirection = Inbound
	}
	if !countsAsCustomer {
		return
	}
	if m.Timestamp.After(c.LastInboundAt) {
		c.LastInboundAt = m.Timestamp
		c.WindowClosedAt = nil
	}
	if c.AnsweredAt == nil || m.Timestamp.After(*c.AnsweredAt) {
		if c.UnansweredSince == nil || m.Timestamp.Before(*c.UnansweredSince) {
			t := m.Timestamp
			c.UnansweredSince = &t
		}
	}
	c.UnreadCount++
}

// ApplyReply records that user answered at t.
func (c *Conversation) ApplyReply(userID, preview string, t time.Time) {
	c.AnsweredBy = userID
	c.AnsweredAt = &t
	c.UnansweredSince = nil
	if !t.Before(c.LastMessageAt) {
		c.LastMessageAt = t
		c.LastMessagePreview = preview
		c.LastDirection = Outbound
	}
}

// Attachment is a media item of a conversation, for the Attachments tab.
type Attachment struct {
	MessageID string    `json:"messageId"`
	Direction Direction `json:"direction"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Media
}

// AttachmentOf describes m's media.
func AttachmentOf(m *Message) Attachment {
	a := Attachment{MessageID: m.ID, Direction: m.Direction, Type: m.Type, Timestamp: m.Timestamp}
	if m.Media != nil {
		a.Media = *m.Media
	}
	return a
}
