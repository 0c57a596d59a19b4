// Package whatsapp holds the WhatsApp Cloud API's wire shapes and the code
// that touches them directly: webhook parsing, the signature and handshake
// checks, and a Graph API client. It imports nothing from AWS.
//
// Field names follow Meta's webhook reference
// (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages),
// including the 2026 business-scoped user id (BSUID) fields.
package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ObjectWhatsAppBusinessAccount is the only "object" a Cloud API webhook carries.
const ObjectWhatsAppBusinessAccount = "whatsapp_business_account"

// FieldMessages is the webhook field that carries inbound messages and statuses.
const FieldMessages = "messages"

// Errors returned by Parse.
var (
	ErrNotJSONObject = errors.New("webhook body is not a JSON object")
	ErrWrongObject   = errors.New(`webhook object is not "whatsapp_business_account"`)
)

// Parse parses a webhook POST body. It never panics; it returns an error
// only for bodies that are not a JSON object or whose object is not
// "whatsapp_business_account". Everything else is read as far as it can
// be: unknown fields are ignored; numbers sent as strings and strings sent
// as numbers are read as the type the field has; a message or status whose
// shape does not match ours (an unknown type, a field that changed type) is
// kept with its identifying fields and its Raw bytes (PartiallyDecoded);
// and a part that cannot be read at all (an entry that is not an object, a
// message that is a number) is skipped. Each of the last two is listed in
// Notification.Problems.
func Parse(body []byte) (*Notification, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, ErrNotJSONObject
	}
	n := &Notification{}
	if err := json.Unmarshal(body, n); err != nil {
		// Slow path, for bodies with a part of the wrong shape.
		if n, err = parseLenient(body); err != nil {
			return nil, err
		}
	}
	if n.Object != ObjectWhatsAppBusinessAccount {
		return nil, fmt.Errorf("%w: got %q", ErrWrongObject, n.Object)
	}
	n.listPartial()
	return n, nil
}

// listPartial adds a problem for every partially decoded message and status.
func (n *Notification) listPartial() {
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			v := &n.Entry[i].Changes[j].Value
			path := fmt.Sprintf("entry[%d].changes[%d].value", i, j)
			for k := range v.Messages {
				if m := &v.Messages[k]; m.PartiallyDecoded {
					n.Problems = append(n.Problems, Problem{Path: fmt.Sprintf("%s.messages[%d]", path, k), Reason: "read in part: " + m.DecodeError})
				}
			}
			for k := range v.Statuses {
				if s := &v.Statuses[k]; s.PartiallyDecoded {
					n.Problems = append(n.Problems, Problem{Path: fmt.Sprintf("%s.statuses[%d]", path, k), Reason: "read in part: " + s.DecodeError})
				}
			}
		}
	}
}

// Notification is one webhook POST body.
type Notification struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
	// Problems lists the parts Parse could not read in full.
	Problems []Problem `json:"-"`
}

// Entry is one WhatsApp Business Account's share of a notification; ID is the WABA id.
type Entry struct {
	ID      string   `json:"id"`
	Changes []Change `json:"changes"`
}

// Change is one change of a subscribed field ("messages" for messages and statuses).
type Change struct {
	Field string `json:"field"`
	Value Value  `json:"value"`
}

// Value is the payload of a change. For field "messages" it holds either
// messages (with the senders in Contacts) or statuses of our outbound
// messages (since the 2026 BSUID rollout, also with Contacts), or errors.
type Value struct {
	MessagingProduct string    `json:"messaging_product"`
	Metadata         Metadata  `json:"metadata"`
	Contacts         []Contact `json:"contacts,omitempty"`
	Messages         []Message `json:"messages,omitempty"`
	Statuses         []Status  `json:"statuses,omitempty"`
	Errors           []Error   `json:"errors,omitempty"`
}

// Metadata names the business phone number the change belongs to.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// Contact is a WhatsApp user in a messages or statuses change. Since the 2026
// usernames rollout a contact always has a UserID (BSUID) but may have no
// WaID (phone number).
type Contact struct {
	WaID            string  `json:"wa_id,omitempty"`
	UserID          string  `json:"user_id,omitempty"`
	ParentUserID    string  `json:"parent_user_id,omitempty"`
	CountryCode     string  `json:"country_code,omitempty"`
	IdentityKeyHash string  `json:"identity_key_hash,omitempty"`
	Profile         Profile `json:"profile"`
}

// Profile is what the user shows: their profile name and, if they adopted
// one, their username (not a stable identifier: users can change it).
type Profile struct {
	Name     string `json:"name"`
	Username string `json:"username,omitempty"`
}

// Key returns the identity a contact is keyed on: WaID if set, else UserID
// (the same rule as Message.SenderKey).
func (c *Contact) Key() string {
	if c.WaID != "" {
		return c.WaID
	}
	return c.UserID
}

// ContactFor returns the contact that sent m (matched on wa_id or BSUID), or
// nil. With a single contact and a single message Meta does not always repeat
// the ids, so a lone contact matches a lone sender.
func (v *Value) ContactFor(m *Message) *Contact {
	for i := range v.Contacts {
		c := &v.Contacts[i]
		if (m.From != "" && c.WaID == m.From) || (m.FromUserID != "" && c.UserID == m.FromUserID) {
			return c
		}
	}
	if len(v.Contacts) == 1 && len(v.Messages) == 1 {
		return &v.Contacts[0]
	}
	return nil
}

// Message types Meta documents for inbound messages.
const (
	TypeText           = "text"
	TypeImage          = "image"
	TypeVideo          = "video"
	TypeAudio          = "audio"
	TypeDocument       = "document"
	TypeSticker        = "sticker"
	TypeLocation       = "location"
	TypeContacts       = "contacts"
	TypeInteractive    = "interactive"
	TypeButton         = "button"
	TypeReaction       = "reaction"
	TypeOrder          = "order"
	TypeSystem         = "system"
	TypeUnsupported    = "unsupported"
	TypeUnknown        = "unknown" // older name of unsupported
	TypeRequestWelcome = "request_welcome"
	TypeTemplate       = "template" // outbound only
)

// Message is one inbound message.
type Message struct {
	From             string          `json:"from,omitempty"`                // wa_id; empty for username-only senders
	FromUserID       string          `json:"from_user_id,omitempty"`        // BSUID
	FromParentUserID string          `json:"from_parent_user_id,omitempty"` // parent BSUID, when enabled
	GroupID          string          `json:"group_id,omitempty"`            // set for group messages
	ID               string          `json:"id"`                            // wamid
	Timestamp        string          `json:"timestamp"`                     // unix seconds as a string
	Type             string          `json:"type"`
	Context          *MessageContext `json:"context,omitempty"`
	Text             *Text           `json:"text,omitempty"`
	Image            *Media          `json:"image,omitempty"`
	Video            *Media          `json:"video,omitempty"`
	Audio            *Media          `json:"audio,omitempty"`
	Document         *Media          `json:"document,omitempty"`
	Sticker          *Media          `json:"sticker,omitempty"`
	Location         *Location       `json:"location,omitempty"`
	Contacts         []SharedContact `json:"contacts,omitempty"`
	Interactive      *Interactive    `json:"interactive,omitempty"`
	Button           *Button         `json:"button,omitempty"`
	Reaction         *Reaction       `json:"reaction,omitempty"`
	Order            *Order          `json:"order,omitempty"`
	System           *System         `json:"system,omitempty"`
	Referral         *Referral       `json:"referral,omitempty"`
	Unsupported      *Unsupported    `json:"unsupported,omitempty"`
	Errors           []Error         `json:"errors,omitempty"`
	Raw              json.RawMessage `json:"-"` // this message's own bytes as received, set by Parse
	PartiallyDecoded bool            `json:"-"` // the typed decode failed; only the identifying fields and Raw are set
	DecodeError      string          `json:"-"` // why, when PartiallyDecoded
}

// MessageContext is set when the message replies to, or forwards, another message.
type MessageContext struct {
	From                string           `json:"from,omitempty"`
	ID                  string           `json:"id,omitempty"` // wamid of the message replied to
	Forwarded           bool             `json:"forwarded,omitempty"`
	FrequentlyForwarded bool             `json:"frequently_forwarded,omitempty"`
	ReferredProduct     *ReferredProduct `json:"referred_product,omitempty"`
}

// ReferredProduct is the catalog product a user asked about.
type ReferredProduct struct {
	CatalogID         string `json:"catalog_id"`
	ProductRetailerID string `json:"product_retailer_id"`
}

// Text is a text message's content.
type Text struct {
	Body string `json:"body"`
}

// Media is the media part of an image, video, audio, document or sticker
// message. ID is a media id valid for 7 days; fetch it with GraphClient.MediaURL.
type Media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"` // documents
	Animated bool   `json:"animated,omitempty"` // stickers
	Voice    bool   `json:"voice,omitempty"`    // audio recorded as a voice note
	URL      string `json:"url,omitempty"`      // newer webhooks include a download URL (needs the access token)
}

// Location is a shared location. Meta sends the coordinates as JSON numbers;
// strings are accepted too.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// SharedContact is one contact card in a "contacts" message.
type SharedContact struct {
	Name      ContactName      `json:"name"`
	Phones    []ContactPhone   `json:"phones,omitempty"`
	Emails    []ContactEmail   `json:"emails,omitempty"`
	Addresses []ContactAddress `json:"addresses,omitempty"`
	Org       *ContactOrg      `json:"org,omitempty"`
	URLs      []ContactURL     `json:"urls,omitempty"`
	Birthday  string           `json:"birthday,omitempty"`
	VCard     string           `json:"vcard,omitempty"`
	Origin    string           `json:"origin,omitempty"` // contact_request (REQUEST_CONTACT_INFO button) or other
}

type ContactName struct {
	FormattedName string `json:"formatted_name"`
	FirstName     string `json:"first_name,omitempty"`
	LastName      string `json:"last_name,omitempty"`
	MiddleName    string `json:"middle_name,omitempty"`
	Suffix        string `json:"suffix,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
}

type ContactPhone struct {
	Phone string `json:"phone,omitempty"`
	WaID  string `json:"wa_id,omitempty"`
	Type  string `json:"type,omitempty"`
}

type ContactEmail struct {
	Email string `json:"email,omitempty"`
	Type  string `json:"type,omitempty"`
}

type ContactAddress struct {
	Street      string `json:"street,omitempty"`
	City        string `json:"city,omitempty"`
	State       string `json:"state,omitempty"`
	Zip         string `json:"zip,omitempty"`
	Country     string `json:"country,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	Type        string `json:"type,omitempty"`
}

type ContactOrg struct {
	Company    string `json:"company,omitempty"`
	Department string `json:"department,omitempty"`
	Title      string `json:"title,omitempty"`
}

type ContactURL struct {
	URL  string `json:"url,omitempty"`
	Type string `json:"type,omitempty"`
}

// Interactive is the user's answer to an interactive message: a reply
// button (button_reply), a list row (list_reply) or a flow (nfm_reply).
type Interactive struct {
	Type        string       `json:"type"`
	ButtonReply *ReplyOption `json:"button_reply,omitempty"`
	ListReply   *ReplyOption `json:"list_reply,omitempty"`
	NFMReply    *NFMReply    `json:"nfm_reply,omitempty"`
}

// ReplyOption is the button or list row the user picked.
type ReplyOption struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// NFMReply is a flow's (or address message's) response; ResponseJSON is a JSON document as a string.
type NFMReply struct {
	Name         string `json:"name,omitempty"`
	Body         string `json:"body,omitempty"`
	ResponseJSON string `json:"response_json"`
}

// Button is a tap on a template's quick-reply button.
type Button struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// Reaction is an emoji reaction to a message; an empty Emoji removes a reaction.
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji,omitempty"`
}

// Order is a cart sent from a catalog.
type Order struct {
	CatalogID    string        `json:"catalog_id"`
	Text         string        `json:"text,omitempty"`
	ProductItems []ProductItem `json:"product_items"`
}

// ProductItem is one line of an order. Meta sends numbers; strings are accepted too.
type ProductItem struct {
	ProductRetailerID string  `json:"product_retailer_id"`
	Quantity          int     `json:"quantity"`
	ItemPrice         float64 `json:"item_price"`
	Currency          string  `json:"currency"`
}

// System message types.
const (
	SystemUserChangedNumber       = "user_changed_number"
	SystemCustomerChangedNumber   = "customer_changed_number" // older name
	SystemCustomerIdentityChanged = "customer_identity_changed"
	SystemUserChangedUserID       = "user_changed_user_id" // BSUID changed
	SystemUserIdentityChanged     = "user_identity_changed"
)

// System is a change on the user's side: a new phone number (WaID is the
// new one; older payloads used NewWaID), a new identity, or a new BSUID
// (UserID is the new one).
type System struct {
	Body         string `json:"body,omitempty"`
	Type         string `json:"type,omitempty"`
	WaID         string `json:"wa_id,omitempty"`
	NewWaID      string `json:"new_wa_id,omitempty"`
	Identity     string `json:"identity,omitempty"`
	Customer     string `json:"customer,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	ParentUserID string `json:"parent_user_id,omitempty"`
}

// Referral is set when the user wrote from a Click to WhatsApp ad or post.
type Referral struct {
	SourceURL      string          `json:"source_url,omitempty"`
	SourceID       string          `json:"source_id,omitempty"`
	SourceType     string          `json:"source_type,omitempty"`
	Headline       string          `json:"headline,omitempty"`
	Body           string          `json:"body,omitempty"`
	MediaType      string          `json:"media_type,omitempty"`
	ImageURL       string          `json:"image_url,omitempty"`
	VideoURL       string          `json:"video_url,omitempty"`
	ThumbnailURL   string          `json:"thumbnail_url,omitempty"`
	CtwaClid       string          `json:"ctwa_clid,omitempty"`
	WelcomeMessage *WelcomeMessage `json:"welcome_message,omitempty"`
}

type WelcomeMessage struct {
	Text string `json:"text"`
}

// Unsupported names the kind of message Cloud API could not pass on
// (poll_creation, gif, ...), for messages of type "unsupported".
type Unsupported struct {
	Type string `json:"type"`
}

// Status values of outbound messages. Meta may add others ("played" for
// voice notes, "deleted", "warning"); keep unknown values as they are.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
	StatusPlayed    = "played"
	StatusDeleted   = "deleted"
)

// Status reports what happened to one of our outbound messages.
type Status struct {
	ID                       string              `json:"id"` // wamid of our outbound message
	Status                   string              `json:"status"`
	Timestamp                string              `json:"timestamp"`
	RecipientID              string              `json:"recipient_id,omitempty"` // wa_id (or group id); omitted when we sent to a BSUID
	RecipientType            string              `json:"recipient_type,omitempty"`
	RecipientUserID          string              `json:"recipient_user_id,omitempty"`
	RecipientParentUserID    string              `json:"recipient_parent_user_id,omitempty"`
	RecipientIdentityKeyHash string              `json:"recipient_identity_key_hash,omitempty"`
	BizOpaqueCallbackData    string              `json:"biz_opaque_callback_data,omitempty"`
	Conversation             *StatusConversation `json:"conversation,omitempty"` // conversation-based pricing only
	Pricing                  *Pricing            `json:"pricing,omitempty"`
	Errors                   []Error             `json:"errors,omitempty"`
	Raw                      json.RawMessage     `json:"-"` // this status's own bytes as received, set by Parse
	PartiallyDecoded         bool                `json:"-"`
	DecodeError              string              `json:"-"` // why, when PartiallyDecoded
}

// RecipientKey returns the identity the status is about: RecipientID if set,
// else RecipientUserID.
func (s *Status) RecipientKey() string {
	if s.RecipientID != "" {
		return s.RecipientID
	}
	return s.RecipientUserID
}

// StatusConversation is the 24 h conversation a message was billed in under
// conversation-based pricing (omitted under per-message pricing, v24.0+).
type StatusConversation struct {
	ID                  string             `json:"id"`
	ExpirationTimestamp string             `json:"expiration_timestamp,omitempty"`
	Origin              ConversationOrigin `json:"origin"`
}

// ConversationOrigin is the conversation's category (authentication,
// marketing, utility, service, referral_conversion).
type ConversationOrigin struct {
	Type string `json:"type"`
}

// Pricing models.
const (
	PricingModelConversation = "CBP" // conversation-based, until 2025-07-01
	PricingModelPerMessage   = "PMP" // per-message, since 2025-07-01
)

// Pricing says how a message was billed. Under PMP, Type is "regular",
// "free_customer_service" or "free_entry_point"; Billable is deprecated but
// still sent.
type Pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
	Type         string `json:"type,omitempty"`
}

// Error is an error inside a webhook (value.errors, messages[].errors,
// statuses[].errors).
type Error struct {
	Code      int        `json:"code"`
	Title     string     `json:"title,omitempty"`
	Message   string     `json:"message,omitempty"`
	ErrorData *ErrorData `json:"error_data,omitempty"`
	Href      string     `json:"href,omitempty"`
}

type ErrorData struct {
	Details string `json:"details"`
}

// Details returns error_data.details, or "".
func (e *Error) Details() string {
	if e.ErrorData == nil {
		return ""
	}
	return e.ErrorData.Details
}

// Time returns the message's timestamp.
func (m *Message) Time() (time.Time, error) { return unixSeconds(m.Timestamp) }

// Time returns the status's timestamp.
func (s *Status) Time() (time.Time, error) { return unixSeconds(s.Timestamp) }

func unixSeconds(s string) (time.Time, error) {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// SenderKey is the identity records are keyed on: From (wa_id) if set, else
// FromUserID (BSUID), for username-only senders.
func (m *Message) SenderKey() string {
	if m.From != "" {
		return m.From
	}
	return m.FromUserID
}

// MediaInfo returns the media part of an image, video, audio, document or
// sticker message, else nil.
func (m *Message) MediaInfo() *Media {
	switch m.Type {
	case TypeImage:
		return m.Image
	case TypeVideo:
		return m.Video
	case TypeAudio:
		return m.Audio
	case TypeDocument:
		return m.Document
	case TypeSticker:
		return m.Sticker
	}
	return nil
}

// Preview returns a one-line human preview of the message, as a chat list shows it.
func (m *Message) Preview() string {
	return oneLine(m.preview())
}

func (m *Message) preview() string {
	switch m.Type {
	case TypeText:
		if m.Text != nil {
			return m.Text.Body
		}
	case TypeImage:
		return captionOr(m.Image, "📷 Photo")
	case TypeVideo:
		return captionOr(m.Video, "🎥 Video")
	case TypeAudio:
		if m.Audio != nil && m.Audio.Voice {
			return "🎤 Voice message"
		}
		return "🎵 Audio"
	case TypeDocument:
		if m.Document != nil {
			if m.Document.Caption != "" {
				return m.Document.Caption
			}
			if m.Document.Filename != "" {
				return "📄 " + m.Document.Filename
			}
		}
		return "📄 Document"
	case TypeSticker:
		return "🏷️ Sticker"
	case TypeLocation:
		if m.Location != nil {
			if m.Location.Name != "" {
				return "📍 Location: " + m.Location.Name
			}
			if m.Location.Address != "" {
				return "📍 Location: " + m.Location.Address
			}
		}
		return "📍 Location"
	case TypeContacts:
		switch len(m.Contacts) {
		case 0:
		case 1:
			if n := m.Contacts[0].Name.FormattedName; n != "" {
				return "👤 Contact: " + n
			}
		default:
			return fmt.Sprintf("👤 %d contacts", len(m.Contacts))
		}
		return "👤 Contact"
	case TypeInteractive:
		if i := m.Interactive; i != nil {
			switch {
			case i.ButtonReply != nil:
				return i.ButtonReply.Title
			case i.ListReply != nil:
				return i.ListReply.Title
			case i.NFMReply != nil:
				if i.NFMReply.Body != "" {
					return "📝 " + i.NFMReply.Body
				}
				return "📝 Form submitted"
			}
		}
		return "Interactive reply"
	case TypeButton:
		if m.Button != nil {
			return m.Button.Text
		}
	case TypeReaction:
		if m.Reaction != nil && m.Reaction.Emoji == "" {
			return "Removed a reaction"
		}
		if m.Reaction != nil {
			return m.Reaction.Emoji + " reacted to a message"
		}
	case TypeOrder:
		if m.Order != nil {
			items := 0
			for _, p := range m.Order.ProductItems {
				items += p.Quantity
			}
			s := fmt.Sprintf("🛒 Order: %d item", items)
			if items != 1 {
				s += "s"
			}
			if m.Order.Text != "" {
				s += " · " + m.Order.Text
			}
			return s
		}
		return "🛒 Order"
	case TypeSystem:
		if m.System != nil && m.System.Body != "" {
			return m.System.Body
		}
		return "System message"
	case TypeRequestWelcome:
		return "👋 Opened the chat"
	}
	return "Unsupported message"
}

func captionOr(md *Media, fallback string) string {
	if md != nil && md.Caption != "" {
		return md.Caption
	}
	return fallback
}

// oneLine folds line breaks and runs of spaces into single spaces.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") && !strings.Contains(s, "  ") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

// plainMessage and plainStatus decode without the lenient methods.
type (
	plainMessage Message
	plainStatus  Status
)

// UnmarshalJSON decodes a message leniently: Raw always holds the message's
// own bytes; if the typed decode fails (a field changed type), the
// identifying fields are still set and PartiallyDecoded is true.
func (m *Message) UnmarshalJSON(b []byte) error {
	type plain Message // drops this method
	var w struct {
		plain
		Timestamp flexString `json:"timestamp"`
	}
	raw := append(json.RawMessage(nil), b...)
	decodeErr := json.Unmarshal(b, &w)
	if decodeErr == nil {
		*m = Message(w.plain)
		m.Timestamp = string(w.Timestamp)
		m.Raw = raw
		return nil
	}
	fields, err := objectFields(b)
	if err != nil {
		return err
	}
	var typed Message
	if fixed, ok := coerce(b, reflect.TypeFor[Message]()); ok && json.Unmarshal(fixed, (*plainMessage)(&typed)) == nil {
		*m = typed
		m.Raw = raw
		return nil
	}
	*m = Message{
		DecodeError:      decodeErr.Error(),
		From:             fields.str("from"),
		FromUserID:       fields.str("from_user_id"),
		FromParentUserID: fields.str("from_parent_user_id"),
		GroupID:          fields.str("group_id"),
		ID:               fields.str("id"),
		Timestamp:        fields.str("timestamp"),
		Type:             fields.str("type"),
		Raw:              raw,
		PartiallyDecoded: true,
	}
	return nil
}

// UnmarshalJSON decodes a status leniently, like Message.UnmarshalJSON.
func (s *Status) UnmarshalJSON(b []byte) error {
	type plain Status
	var w struct {
		plain
		Timestamp flexString `json:"timestamp"`
	}
	raw := append(json.RawMessage(nil), b...)
	decodeErr := json.Unmarshal(b, &w)
	if decodeErr == nil {
		*s = Status(w.plain)
		s.Timestamp = string(w.Timestamp)
		s.Raw = raw
		return nil
	}
	fields, err := objectFields(b)
	if err != nil {
		return err
	}
	var typed Status
	if fixed, ok := coerce(b, reflect.TypeFor[Status]()); ok && json.Unmarshal(fixed, (*plainStatus)(&typed)) == nil {
		*s = typed
		s.Raw = raw
		return nil
	}
	*s = Status{
		DecodeError:      decodeErr.Error(),
		ID:               fields.str("id"),
		Status:           fields.str("status"),
		Timestamp:        fields.str("timestamp"),
		RecipientID:      fields.str("recipient_id"),
		RecipientUserID:  fields.str("recipient_user_id"),
		Raw:              raw,
		PartiallyDecoded: true,
	}
	return nil
}

// UnmarshalJSON accepts the coordinates as numbers or numeric strings.
func (l *Location) UnmarshalJSON(b []byte) error {
	type plain Location
	var w struct {
		plain
		Latitude  flexFloat `json:"latitude"`
		Longitude flexFloat `json:"longitude"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = Location(w.plain)
	l.Latitude, l.Longitude = float64(w.Latitude), float64(w.Longitude)
	return nil
}

// UnmarshalJSON accepts quantity and price as numbers or numeric strings.
func (p *ProductItem) UnmarshalJSON(b []byte) error {
	type plain ProductItem
	var w struct {
		plain
		Quantity  flexFloat `json:"quantity"`
		ItemPrice flexFloat `json:"item_price"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = ProductItem(w.plain)
	p.Quantity, p.ItemPrice = int(w.Quantity), float64(w.ItemPrice)
	return nil
}

// UnmarshalJSON accepts new_wa_id as a string or a number (older payloads).
func (s *System) UnmarshalJSON(b []byte) error {
	type plain System
	var w struct {
		plain
		NewWaID flexString `json:"new_wa_id"`
		WaID    flexString `json:"wa_id"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = System(w.plain)
	s.NewWaID, s.WaID = string(w.NewWaID), string(w.WaID)
	return nil
}

// UnmarshalJSON accepts expiration_timestamp as a string or a number.
func (c *StatusConversation) UnmarshalJSON(b []byte) error {
	type plain StatusConversation
	var w struct {
		plain
		ExpirationTimestamp flexString `json:"expiration_timestamp"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = StatusConversation(w.plain)
	c.ExpirationTimestamp = string(w.ExpirationTimestamp)
	return nil
}

// flexString decodes a JSON string, or a number as its literal text; null is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
		*f = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexString(n.String())
	}
	return nil
}

// flexFloat decodes a JSON number or a numeric string; null or "" is 0.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = 0
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("number %q: not a finite number", s)
		}
		*f = flexFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = flexFloat(v)
	return nil
}

type rawFields map[string]json.RawMessage

func objectFields(b []byte) (rawFields, error) {
	var f rawFields
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f == nil { // the literal null
		return nil, errors.New("expected a JSON object, got null")
	}
	return f, nil
}

// str returns the field as a string if it is a string or number, else "".
func (f rawFields) str(key string) string {
	var s flexString
	if raw, ok := f[key]; ok && json.Unmarshal(raw, &s) == nil {
		return string(s)
	}
	return ""
}
