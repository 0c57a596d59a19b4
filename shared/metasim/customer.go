package metasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// UserAgent is what Meta's webhook requests carry.
const UserAgent = "facebookexternalua"

// Inbound describes a message a customer sends to the business. Only the
// fields of its Type matter; the rest are ignored.
type Inbound struct {
	PhoneNumberID string    `json:"phoneNumberId,omitempty"` // business number; default the first configured
	From          string    `json:"from,omitempty"`          // customer's wa_id (phone number); empty for a username-only customer
	UserID        string    `json:"userId,omitempty"`        // customer's BSUID; assigned from From when empty
	Name          string    `json:"name,omitempty"`          // profile name
	Username      string    `json:"username,omitempty"`
	Type          string    `json:"type,omitempty"` // default text
	ID            string    `json:"id,omitempty"`   // wamid; generated when empty
	Timestamp     time.Time `json:"timestamp,omitzero"`
	ReplyTo       string    `json:"replyTo,omitempty"` // wamid this message replies to (context)

	Text     string `json:"text,omitempty"`     // text body; button text; system body
	Caption  string `json:"caption,omitempty"`  // image, video, document
	Filename string `json:"filename,omitempty"` // document
	MimeType string `json:"mimeType,omitempty"` // media; default by type
	Media    []byte `json:"media,omitempty"`    // media content; a small placeholder when empty
	Voice    bool   `json:"voice,omitempty"`    // audio recorded as a voice note
	Animated bool   `json:"animated,omitempty"` // sticker

	Latitude     float64 `json:"latitude,omitempty"`
	Longitude    float64 `json:"longitude,omitempty"`
	LocationName string  `json:"locationName,omitempty"`
	Address      string  `json:"address,omitempty"`

	ContactName  string `json:"contactName,omitempty"` // shared contact card
	ContactPhone string `json:"contactPhone,omitempty"`

	ButtonID        string `json:"buttonId,omitempty"` // interactive button_reply
	ButtonTitle     string `json:"buttonTitle,omitempty"`
	ListID          string `json:"listId,omitempty"` // interactive list_reply
	ListTitle       string `json:"listTitle,omitempty"`
	ListDescription string `json:"listDescription,omitempty"`
	Payload         string `json:"payload,omitempty"` // template quick-reply button

	Emoji   string `json:"emoji,omitempty"`   // reaction; empty removes the reaction
	ReactTo string `json:"reactTo,omitempty"` // wamid reacted to

	CatalogID string                 `json:"catalogId,omitempty"`
	Items     []whatsapp.ProductItem `json:"items,omitempty"`

	NewWaID string `json:"newWaId,omitempty"` // system: the customer's new number

	UnsupportedType string          `json:"unsupportedType,omitempty"` // type "unsupported": what Meta could not pass on
	Raw             json.RawMessage `json:"raw,omitempty"`             // any other type: the object under the type's key
}

// SendResult is what happened to one inbound message.
type SendResult struct {
	ID       string `json:"id"`                // the message's wamid
	MediaID  string `json:"mediaId,omitempty"` // for media messages
	Status   int    `json:"status"`            // the webhook's last HTTP status (0: no answer)
	Attempts int    `json:"attempts"`
}

// Send builds the webhook for a customer's message, records that the
// customer wrote (opening the service window), then signs and POSTs it to
// the webhook URL, retrying like Meta. The window opens even when delivery
// fails: the customer did write.
func (s *Sim) Send(ctx context.Context, in Inbound) (SendResult, error) {
	body, res, err := s.BuildInbound(in)
	if err != nil {
		return SendResult{}, err
	}
	res.Status, res.Attempts, err = s.Deliver(ctx, body)
	return res, err
}

// BuildInbound builds the webhook body for a customer's message and records
// the customer and the message (window, media) without posting anything.
func (s *Sim) BuildInbound(in Inbound) (body []byte, res SendResult, err error) {
	num, ok := s.Number(in.PhoneNumberID)
	if !ok {
		return nil, res, fmt.Errorf("unknown business phone number id %q", in.PhoneNumberID)
	}
	waID := NormalizePhone(in.From)
	if waID == "" && in.UserID == "" {
		return nil, res, errors.New("inbound message needs from (phone number) or userId (BSUID)")
	}
	if in.Type == "" {
		in.Type = whatsapp.TypeText
	}
	ts := in.Timestamp
	if ts.IsZero() {
		ts = s.now()
	}

	s.mu.Lock()
	c := s.customerLocked(waID, in.UserID, in.Name, in.Username, num.WABAID)
	cust := *c
	s.mu.Unlock()
	if s.cfg.OmitUserIDs && cust.waID != "" {
		cust.userID = ""
	}

	m := whatsapp.Message{
		From:       cust.waID,
		FromUserID: cust.userID,
		ID:         in.ID,
		Timestamp:  strconv.FormatInt(ts.Unix(), 10),
		Type:       in.Type,
	}
	if m.ID == "" {
		m.ID = NewWamid(cust.key(), true)
	}
	if in.ReplyTo != "" {
		m.Context = &whatsapp.MessageContext{From: num.DisplayPhoneNumber, ID: in.ReplyTo}
	}
	var extra map[string]json.RawMessage // for types whatsapp.Message has no field for
	switch in.Type {
	case whatsapp.TypeText:
		if in.Text == "" {
			return nil, res, errors.New("text message needs text")
		}
		m.Text = &whatsapp.Text{Body: in.Text}
	case whatsapp.TypeImage, whatsapp.TypeVideo, whatsapp.TypeAudio, whatsapp.TypeDocument, whatsapp.TypeSticker:
		md := s.storeInboundMedia(num.PhoneNumberID, in)
		res.MediaID = md.ID
		switch in.Type {
		case whatsapp.TypeImage:
			m.Image = md
		case whatsapp.TypeVideo:
			m.Video = md
		case whatsapp.TypeAudio:
			m.Audio = md
		case whatsapp.TypeDocument:
			m.Document = md
		case whatsapp.TypeSticker:
			m.Sticker = md
		}
	case whatsapp.TypeLocation:
		m.Location = &whatsapp.Location{Latitude: in.Latitude, Longitude: in.Longitude, Name: in.LocationName, Address: in.Address}
	case whatsapp.TypeContacts:
		if in.ContactName == "" {
			return nil, res, errors.New("contacts message needs a contact name")
		}
		sc := whatsapp.SharedContact{Name: whatsapp.ContactName{FormattedName: in.ContactName, FirstName: strings.Fields(in.ContactName)[0]}}
		if in.ContactPhone != "" {
			sc.Phones = []whatsapp.ContactPhone{{Phone: in.ContactPhone, Type: "CELL", WaID: NormalizePhone(in.ContactPhone)}}
		}
		m.Contacts = []whatsapp.SharedContact{sc}
	case whatsapp.TypeInteractive:
		switch {
		case in.ButtonID != "":
			m.Interactive = &whatsapp.Interactive{Type: "button_reply", ButtonReply: &whatsapp.ReplyOption{ID: in.ButtonID, Title: or(in.ButtonTitle, in.ButtonID)}}
		case in.ListID != "":
			m.Interactive = &whatsapp.Interactive{Type: "list_reply", ListReply: &whatsapp.ReplyOption{ID: in.ListID, Title: or(in.ListTitle, in.ListID), Description: in.ListDescription}}
		default:
			return nil, res, errors.New("interactive message needs a button id or a list id")
		}
	case whatsapp.TypeButton:
		if in.Payload == "" && in.Text == "" {
			return nil, res, errors.New("button message needs a payload or text")
		}
		m.Button = &whatsapp.Button{Payload: in.Payload, Text: or(in.Text, in.Payload)}
	case whatsapp.TypeReaction:
		if in.ReactTo == "" {
			return nil, res, errors.New("reaction needs the wamid it reacts to")
		}
		m.Reaction = &whatsapp.Reaction{MessageID: in.ReactTo, Emoji: in.Emoji}
	case whatsapp.TypeOrder:
		if len(in.Items) == 0 {
			return nil, res, errors.New("order needs items")
		}
		m.Order = &whatsapp.Order{CatalogID: or(in.CatalogID, "194836987003835"), Text: in.Text, ProductItems: in.Items}
	case whatsapp.TypeSystem:
		newID := NormalizePhone(in.NewWaID)
		m.System = &whatsapp.System{Type: whatsapp.SystemUserChangedNumber, WaID: newID,
			Body: or(in.Text, fmt.Sprintf("User %s changed from %s to %s", cust.name, cust.waID, newID))}
	case whatsapp.TypeUnsupported:
		m.Unsupported = &whatsapp.Unsupported{Type: or(in.UnsupportedType, "poll_creation")}
		m.Errors = []whatsapp.Error{{Code: whatsapp.ErrCodeUnsupportedMessageType, Title: "Message type unknown", Message: "Message type unknown",
			ErrorData: &whatsapp.ErrorData{Details: "Message type is currently not supported."}}}
	default:
		if len(in.Raw) > 0 {
			if !json.Valid(in.Raw) {
				return nil, res, fmt.Errorf("raw content of type %q is not JSON", in.Type)
			}
			extra = map[string]json.RawMessage{in.Type: in.Raw}
		}
	}

	value := whatsapp.Value{
		MessagingProduct: "whatsapp",
		Metadata:         whatsapp.Metadata{DisplayPhoneNumber: num.DisplayPhoneNumber, PhoneNumberID: num.PhoneNumberID},
		Messages:         []whatsapp.Message{m},
	}
	if in.Type != whatsapp.TypeSystem { // system messages carry no contacts
		value.Contacts = []whatsapp.Contact{{WaID: cust.waID, UserID: cust.userID, Profile: whatsapp.Profile{Name: cust.name, Username: cust.username}}}
	}
	body, err = s.notification(num, value, extra)
	if err != nil {
		return nil, res, err
	}

	s.mu.Lock()
	if in.Type != whatsapp.TypeSystem {
		if prev := c.lastInbound[num.PhoneNumberID]; ts.After(prev) {
			c.lastInbound[num.PhoneNumberID] = ts
		}
	}
	if in.Type == whatsapp.TypeSystem && m.System.WaID != "" && c.waID != "" {
		delete(s.byWaID, c.waID)
		c.waID = m.System.WaID
		s.byWaID[c.waID] = c
	}
	s.saveLocked()
	s.mu.Unlock()
	res.ID = m.ID
	return body, res, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// notification wraps one value in the envelope and encodes it as Meta does.
// extra adds keys to the (single) message for types the typed struct lacks.
func (s *Sim) notification(num Number, value whatsapp.Value, extra map[string]json.RawMessage) ([]byte, error) {
	n := whatsapp.Notification{
		Object: whatsapp.ObjectWhatsAppBusinessAccount,
		Entry:  []whatsapp.Entry{{ID: num.WABAID, Changes: []whatsapp.Change{{Field: whatsapp.FieldMessages, Value: value}}}},
	}
	if len(extra) == 0 {
		return MetaJSON(n)
	}
	msg, err := json.Marshal(value.Messages[0])
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(msg, &fields); err != nil {
		return nil, err
	}
	for k, v := range extra {
		fields[k] = v
	}
	// Encode the envelope with a placeholder message, then splice the raw one in.
	value.Messages = nil
	n.Entry[0].Changes[0].Value = value
	var generic map[string]any
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	generic["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)["messages"] = []any{fields}
	return MetaJSON(generic)
}

// MetaJSON encodes v the way Meta's webhook bodies are encoded: compact, with
// every non-ASCII character escaped as \uXXXX (UTF-16 surrogate pairs beyond
// the BMP) and slashes escaped as \/. Re-encoding such a body with
// encoding/json changes its bytes, which is why signatures must be checked
// on the raw body.
func MetaJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/8)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '/': // only ever inside strings in JSON
			out.WriteString(`\/`)
			i++
		case c < utf8.RuneSelf:
			out.WriteByte(c)
			i++
		default: // non-ASCII only ever appears inside strings
			r, size := utf8.DecodeRune(b[i:])
			i += size
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
		}
	}
	return out.Bytes(), nil
}

// DeliveryError is returned when a webhook was not accepted after every attempt.
type DeliveryError struct {
	Attempts   int
	LastStatus int   // 0 when the last attempt got no answer
	Err        error // the last transport error, if any
}

func (e *DeliveryError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("webhook not accepted after %d attempts: %v", e.Attempts, e.Err)
	}
	return fmt.Sprintf("webhook not accepted after %d attempts: last status %d", e.Attempts, e.LastStatus)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Deliver signs body with the app secret and POSTs it to the webhook URL
// with Meta's headers, retrying a non-2xx answer or a transport error with
// doubling backoff, up to MaxAttempts. It returns the last HTTP status and
// the number of attempts.
func (s *Sim) Deliver(ctx context.Context, body []byte) (status, attempts int, err error) {
	target := s.WebhookURL()
	if target == "" {
		return 0, 0, errors.New("no webhook URL configured")
	}
	return deliver(ctx, s.http, s.log, target, []byte(s.cfg.AppSecret), body, s.cfg.MaxAttempts, s.cfg.RetryBackoff)
}

func deliver(ctx context.Context, client *http.Client, log interface {
	Warn(string, ...any)
}, target string, secret, body []byte, maxAttempts int, backoff time.Duration) (status, attempts int, err error) {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	var lastErr error
	delay := backoff
	for attempts = 1; ; attempts++ {
		status, lastErr = postOnce(ctx, client, target, secret, body)
		if lastErr == nil && status/100 == 2 {
			return status, attempts, nil
		}
		if log != nil {
			log.Warn("metasim: webhook not accepted", "url", target, "attempt", attempts, "status", status, "err", lastErr)
		}
		if attempts >= maxAttempts || ctx.Err() != nil {
			break
		}
		// Meta backs off with growing, slightly jittered delays.
		jittered := delay + time.Duration(rand.Int64N(int64(delay)/5+1))
		select {
		case <-ctx.Done():
		case <-time.After(jittered):
		}
		delay = min(delay*2, 30*time.Second)
	}
	return status, attempts, &DeliveryError{Attempts: attempts, LastStatus: status, Err: lastErr}
}

func postOnce(ctx context.Context, client *http.Client, target string, secret, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(secret, body))
	// Meta also sends the legacy SHA-1 signature.
	mac := hmac.New(sha1.New, secret)
	mac.Write(body)
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Handshake performs Meta's verification GET against the webhook URL with
// the configured verify token and checks that the challenge is echoed.
func (s *Sim) Handshake(ctx context.Context) error {
	return Handshake(ctx, s.http, s.WebhookURL(), s.cfg.VerifyToken)
}

// Handshake performs Meta's verification GET against webhookURL.
func Handshake(ctx context.Context, client *http.Client, webhookURL, verifyToken string) error {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(webhookURL)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	challenge := strconv.FormatUint(randUint64()%1e10, 10)
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.challenge", challenge)
	q.Set("hub.verify_token", verifyToken)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("handshake: status %d: %s", resp.StatusCode, strings.TrimSpace(string(got)))
	}
	if strings.TrimSpace(string(got)) != challenge {
		return fmt.Errorf("handshake: answered %q, want the challenge %q", got, challenge)
	}
	return nil
}
