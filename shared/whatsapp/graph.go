package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// DefaultGraphBaseURL is the Graph API version this package is written against.
const DefaultGraphBaseURL = "https://graph.facebook.com/v23.0"

// MaxDownloadBytes bounds Download: the largest media WhatsApp carries is a
// 100 MB document.
const MaxDownloadBytes = 100 << 20

// GraphClient calls the WhatsApp Cloud API (Graph API) over HTTP.
// BaseURL includes the version, e.g. "https://graph.facebook.com/v23.0".
type GraphClient struct {
	BaseURL string
	HTTP    *http.Client
}

// OutboundMessage is a message the business sends. Set To (wa_id / phone
// number) or, for a user known only by a business-scoped user id, ToUserID
// (sent as Meta's "recipient" field; "to" wins when both are set). Exactly
// the part named by Type must be set.
type OutboundMessage struct {
	To                    string       `json:"to,omitempty"`
	ToUserID              string       `json:"recipient,omitempty"`
	Type                  string       `json:"type"`
	Text                  *OutText     `json:"text,omitempty"`
	Image                 *OutMedia    `json:"image,omitempty"`
	Document              *OutMedia    `json:"document,omitempty"`
	Video                 *OutMedia    `json:"video,omitempty"`
	Audio                 *OutMedia    `json:"audio,omitempty"`
	Sticker               *OutMedia    `json:"sticker,omitempty"`
	Template              *OutTemplate `json:"template,omitempty"`
	Context               *OutContext  `json:"context,omitempty"`
	BizOpaqueCallbackData string       `json:"biz_opaque_callback_data,omitempty"` // echoed in status webhooks
}

// OutText is a text message; PreviewURL renders a preview of the first URL.
type OutText struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

// OutMedia names uploaded media by ID or a public HTTPS Link. Caption is not
// allowed on audio and stickers; Filename only on documents.
type OutMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// OutTemplate is an approved message template, the only kind of message
// allowed outside the 24 h customer service window.
type OutTemplate struct {
	Name       string              `json:"name"`
	Language   TemplateLanguage    `json:"language"`
	Components []TemplateComponent `json:"components,omitempty"`
}

type TemplateLanguage struct {
	Code string `json:"code"`
}

// TemplateComponent fills a template's header, body or button parameters.
type TemplateComponent struct {
	Type       string              `json:"type"`               // header, body, button
	SubType    string              `json:"sub_type,omitempty"` // quick_reply, url (buttons)
	Index      string              `json:"index,omitempty"`    // button index
	Parameters []TemplateParameter `json:"parameters,omitempty"`
}

type TemplateParameter struct {
	Type          string    `json:"type"` // text, image, document, video, payload, ...
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	Image         *OutMedia `json:"image,omitempty"`
	Document      *OutMedia `json:"document,omitempty"`
	Video         *OutMedia `json:"video,omitempty"`
}

// OutContext makes the message a reply to MessageID (a wamid).
type OutContext struct {
	MessageID string `json:"message_id"`
}

// Validate checks what Meta would refuse before the call is made.
func (m *OutboundMessage) Validate() error {
	if m.To == "" && m.ToUserID == "" {
		return errors.New("outbound message: no recipient (to or user id)")
	}
	parts := map[string]bool{
		TypeText: m.Text != nil, TypeImage: m.Image != nil, TypeDocument: m.Document != nil,
		TypeVideo: m.Video != nil, TypeAudio: m.Audio != nil, TypeSticker: m.Sticker != nil,
		TypeTemplate: m.Template != nil,
	}
	set, known := parts[m.Type]
	if !known {
		return fmt.Errorf("outbound message: unsupported type %q", m.Type)
	}
	if !set {
		return fmt.Errorf("outbound message: type %q without its %s part", m.Type, m.Type)
	}
	for t, ok := range parts {
		if ok && t != m.Type {
			return fmt.Errorf("outbound message: type %q but %s part set too", m.Type, t)
		}
	}
	switch m.Type {
	case TypeText:
		if strings.TrimSpace(m.Text.Body) == "" {
			return errors.New("outbound message: empty text body")
		}
	case TypeTemplate:
		if m.Template.Name == "" || m.Template.Language.Code == "" {
			return errors.New("outbound message: template needs a name and a language code")
		}
	default:
		md := m.media()
		if (md.ID == "") == (md.Link == "") {
			return fmt.Errorf("outbound message: %s needs exactly one of id or link", m.Type)
		}
	}
	return nil
}

func (m *OutboundMessage) media() *OutMedia {
	switch m.Type {
	case TypeImage:
		return m.Image
	case TypeDocument:
		return m.Document
	case TypeVideo:
		return m.Video
	case TypeAudio:
		return m.Audio
	case TypeSticker:
		return m.Sticker
	}
	return nil
}

// SendRequest is the JSON body of POST /{phone-number-id}/messages.
type SendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	OutboundMessage
}

// SendResponse is Meta's answer to a successful send.
type SendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input  string `json:"input"`
		WaID   string `json:"wa_id,omitempty"`
		UserID string `json:"user_id,omitempty"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status,omitempty"`
	} `json:"messages"`
}

// SendMessage sends m from the business phone number and returns the new
// message's wamid. Graph errors come back as *GraphError.
func (c *GraphClient) SendMessage(ctx context.Context, phoneNumberID, accessToken string, m OutboundMessage) (wamid string, err error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	body, err := json.Marshal(SendRequest{MessagingProduct: "whatsapp", RecipientType: "individual", OutboundMessage: m})
	if err != nil {
		return "", fmt.Errorf("encode message: %w", err)
	}
	var resp SendResponse
	if err := c.do(ctx, http.MethodPost, c.url(phoneNumberID, "messages"), accessToken, "application/json", body, &resp); err != nil {
		return "", fmt.Errorf("send %s message: %w", m.Type, err)
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		return "", errors.New("send message: response has no message id")
	}
	return resp.Messages[0].ID, nil
}

// MarkRead marks an inbound message (and the ones before it) as read, so the
// customer sees blue ticks.
func (c *GraphClient) MarkRead(ctx context.Context, phoneNumberID, accessToken, wamid string) error {
	body, err := json.Marshal(map[string]string{"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
	if err != nil {
		return err
	}
	var resp struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, http.MethodPost, c.url(phoneNumberID, "messages"), accessToken, "application/json", body, &resp); err != nil {
		return fmt.Errorf("mark %s read: %w", wamid, err)
	}
	if !resp.Success {
		return fmt.Errorf("mark %s read: success false", wamid)
	}
	return nil
}

// UploadMedia uploads body (multipart: messaging_product, type, file) and
// returns the media id to send it with.
func (c *GraphClient) UploadMedia(ctx context.Context, phoneNumberID, accessToken, filename, mimeType string, body []byte) (mediaID string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("messaging_product", "whatsapp")
	_ = w.WriteField("type", mimeType)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper.Replace(filename)))
	h.Set("Content-Type", mimeType)
	part, err := w.CreatePart(h)
	if err != nil {
		return "", fmt.Errorf("upload media: %w", err)
	}
	if _, err := part.Write(body); err != nil {
		return "", fmt.Errorf("upload media: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("upload media: %w", err)
	}
	var resp struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, c.url(phoneNumberID, "media"), accessToken, w.FormDataContentType(), buf.Bytes(), &resp); err != nil {
		return "", fmt.Errorf("upload media %s: %w", filename, err)
	}
	if resp.ID == "" {
		return "", errors.New("upload media: response has no id")
	}
	return resp.ID, nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

// MediaInfo is Meta's answer to GET /{media-id}.
type MediaInfo struct {
	MessagingProduct string      `json:"messaging_product"`
	URL              string      `json:"url"`
	MimeType         string      `json:"mime_type"`
	SHA256           string      `json:"sha256"`
	FileSize         json.Number `json:"file_size,omitempty"` // Meta has sent it as a number and as a string
	ID               string      `json:"id"`
}

// MediaURL resolves a media id to a download URL (valid for 5 minutes), its
// MIME type and size in bytes.
func (c *GraphClient) MediaURL(ctx context.Context, mediaID, accessToken string) (downloadURL, mimeType string, size int64, err error) {
	var info MediaInfo
	if err := c.do(ctx, http.MethodGet, c.url(mediaID), accessToken, "", nil, &info); err != nil {
		return "", "", 0, fmt.Errorf("media %s: %w", mediaID, err)
	}
	if info.URL == "" {
		return "", "", 0, fmt.Errorf("media %s: response has no url", mediaID)
	}
	if info.FileSize != "" {
		if size, err = info.FileSize.Int64(); err != nil {
			return "", "", 0, fmt.Errorf("media %s: file_size %q: %w", mediaID, info.FileSize, err)
		}
	}
	return info.URL, info.MimeType, size, nil
}

// Download fetches a media URL from MediaURL, authenticated with the access
// token, and returns at most MaxDownloadBytes.
func (c *GraphClient) Download(ctx context.Context, downloadURL, accessToken string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, downloadURL, nil)
	if err != nil {
		return nil, fmt.Errorf("download media: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	// The media host answers some clients without a User-Agent with an HTML page.
	req.Header.Set("User-Agent", "wacrm/1.0")
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("download media: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDownloadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download media: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("download media: %w", parseGraphError(resp.StatusCode, body))
	}
	if len(body) > MaxDownloadBytes {
		return nil, fmt.Errorf("download media: larger than %d bytes", MaxDownloadBytes)
	}
	return body, nil
}

func (c *GraphClient) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *GraphClient) url(segments ...string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultGraphBaseURL
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(base, "/"))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do makes one Graph call and decodes a 2xx JSON answer into out; any other
// answer becomes a *GraphError.
func (c *GraphClient) do(ctx context.Context, method, u, accessToken, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if accessToken != "" { // the code exchange authenticates with the app's id and secret instead
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return parseGraphError(resp.StatusCode, respBody)
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// Graph error codes the send path acts on. See Meta's Cloud API error codes.
const (
	ErrCodeAPIUnknown             = 1      // invalid request or possible server error
	ErrCodeAPIService             = 2      // temporary: downtime or overload
	ErrCodeAppRateLimit           = 4      // app hit its API call rate limit
	ErrCodePermissionDenied       = 10     // permission not granted or removed
	ErrCodeInvalidParameter       = 100    // unsupported or misspelled parameter
	ErrCodeAccessToken            = 190    // access token expired or invalid
	ErrCodePolicyBlocked          = 368    // temporarily blocked for policy violations
	ErrCodeWABARateLimit          = 80007  // WhatsApp Business Account rate limit
	ErrCodeThroughput             = 130429 // Cloud API message throughput reached
	ErrCodeSomethingWentWrong     = 131000 // unknown error; retry
	ErrCodeServiceUnavailable     = 131016 // service temporarily unavailable
	ErrCodeUndeliverable          = 131026 // message undeliverable (not on WhatsApp, blocked, old app)
	ErrCodeAccountLocked          = 131031 // business account locked
	ErrCodePaymentIssue           = 131042 // business eligibility payment issue
	ErrCodeWindowClosed           = 131047 // re-engagement: more than 24 h since the customer's last message
	ErrCodeSpamRateLimit          = 131048 // too many messages flagged as spam
	ErrCodeEcosystemEngagement    = 131049 // not delivered to maintain healthy engagement
	ErrCodeUnsupportedMessageType = 131051
	ErrCodeMediaDownload          = 131052
	ErrCodeMediaUpload            = 131053
	ErrCodePairRateLimit          = 131056 // too many messages to the same user in a short time
	ErrCodeMaintenanceMode        = 131057 // business account in maintenance mode (throughput upgrade)
	ErrCodeBSUIDNotSupported      = 131062 // this message cannot be sent to a business-scoped user id
	ErrCodeTemplateParams         = 132000
	ErrCodeTemplateMissing        = 132001
)

// GraphError is a Graph API error answer: {"error":{...}} plus the HTTP status.
type GraphError struct {
	Status    int    // HTTP status
	Code      int    // error.code
	Subcode   int    // error.error_subcode (deprecated by Meta, still sent)
	Type      string // error.type, e.g. OAuthException
	Message   string // error.message, e.g. "(#131047) Re-engagement message"
	Details   string // error.error_data.details
	FBTraceID string // error.fbtrace_id, for Meta support
}

func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph api: code %d", e.Code)
	if e.Subcode != 0 {
		fmt.Fprintf(&b, "/%d", e.Subcode)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": " + e.Details)
	}
	fmt.Fprintf(&b, " (http %d", e.Status)
	if e.FBTraceID != "" {
		b.WriteString(", fbtrace_id " + e.FBTraceID)
	}
	b.WriteString(")")
	return b.String()
}

// Retryable reports whether the same request may succeed later: throttling
// (4, 80007, 130429, 131056), transient failures (2, 131000, 131016, 131057)
// and 5xx/429 answers without a definite code. Errors that only a change
// of request or state can fix (100, 190, 131047 window closed, 131026
// undeliverable, 131048/131049 quality limits, ...) are not.
func (e *GraphError) Retryable() bool {
	switch e.Code {
	case ErrCodeAPIService, ErrCodeAppRateLimit, ErrCodeWABARateLimit, ErrCodeThroughput,
		ErrCodeSomethingWentWrong, ErrCodeServiceUnavailable, ErrCodePairRateLimit, ErrCodeMaintenanceMode:
		return true
	case ErrCodePermissionDenied, ErrCodeInvalidParameter, ErrCodeAccessToken, ErrCodePolicyBlocked,
		ErrCodeUndeliverable, ErrCodeAccountLocked, ErrCodePaymentIssue, ErrCodeWindowClosed,
		ErrCodeSpamRateLimit, ErrCodeEcosystemEngagement, ErrCodeUnsupportedMessageType,
		ErrCodeMediaDownload, ErrCodeMediaUpload, ErrCodeBSUIDNotSupported,
		ErrCodeTemplateParams, ErrCodeTemplateMissing:
		return false
	}
	if e.Code >= 200 && e.Code <= 299 { // API permission errors
		return false
	}
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// AsGraphError returns the *GraphError in err's chain, if any.
func AsGraphError(err error) (*GraphError, bool) {
	var ge *GraphError
	ok := errors.As(err, &ge)
	return ge, ok
}

// IsWindowClosed reports whether err is Meta's 131047: the 24 h customer
// service window is closed and only a template may be sent.
func IsWindowClosed(err error) bool {
	ge, ok := AsGraphError(err)
	return ok && ge.Code == ErrCodeWindowClosed
}

// Failure is what a failed Graph API call means for the job that made it.
// Every caller (the send and media consumers) sorts errors with Classify,
// so a code means the same thing on every path.
type Failure int

const (
	// NoAnswer: the call ended without an answer from Meta (no
	// connection, a timeout). Retrying is safe only if the request was
	// not written: Meta may have acted on it.
	NoAnswer Failure = iota
	// Throttled: a rate limit (Throttled). The same call may succeed
	// after a backoff (queue.Throttle).
	Throttled
	// Transient: Meta failed for now (5xx, temporary codes). The queue's
	// own retries suit it.
	Transient
	// TokenRefused: the access token is expired, revoked or invalid. Only
	// an admin reconnecting the number helps.
	TokenRefused
	// Refused: Meta refused this call for good; the code says why and
	// Plain says it for people.
	Refused
)

// Classify sorts the error of a GraphClient call; the *GraphError is nil
// for NoAnswer.
func Classify(err error) (Failure, *GraphError) {
	ge, ok := AsGraphError(err)
	switch {
	case !ok:
		return NoAnswer, nil
	case ge.Throttled():
		return Throttled, ge
	case ge.Retryable():
		return Transient, ge
	case ge.Code == ErrCodeAccessToken || ge.Status == http.StatusUnauthorized:
		return TokenRefused, ge
	}
	return Refused, ge
}

// Plain is Meta's own explanation (the details when given) without its
// "(#code)" prefix, for the CRM user.
func (e *GraphError) Plain() string {
	msg := e.Details
	if msg == "" {
		msg = e.Message
	}
	if strings.HasPrefix(msg, "(#") {
		if i := strings.IndexByte(msg, ')'); i > 0 {
			msg = msg[i+1:]
		}
	}
	if msg = strings.TrimSpace(msg); msg == "" {
		msg = fmt.Sprintf("error %d", e.Code)
	}
	return msg
}

// GraphErrorBody is the JSON shape of a Graph error answer.
type GraphErrorBody struct {
	Error struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode,omitempty"`
		ErrorData *struct {
			MessagingProduct string `json:"messaging_product,omitempty"`
			Details          string `json:"details"`
		} `json:"error_data,omitempty"`
		FBTraceID string `json:"fbtrace_id,omitempty"`
	} `json:"error"`
}

func parseGraphError(status int, body []byte) *GraphError {
	ge := &GraphError{Status: status}
	var eb GraphErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || (eb.Error.Code == 0 && eb.Error.Message == "") {
		ge.Message = strings.TrimSpace(string(truncate(body, 200)))
		if ge.Message == "" {
			ge.Message = http.StatusText(status)
		}
		return ge
	}
	ge.Code, ge.Subcode, ge.Type, ge.Message, ge.FBTraceID = eb.Error.Code, eb.Error.Subcode, eb.Error.Type, eb.Error.Message, eb.Error.FBTraceID
	if eb.Error.ErrorData != nil {
		ge.Details = eb.Error.ErrorData.Details
	}
	return ge
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Throttled reports a rate-limit answer: the same request may succeed
// later, after a backoff (throughput, pair rate, app and WABA rate limits,
// or a bare 429).
func (e *GraphError) Throttled() bool {
	switch e.Code {
	case ErrCodeThroughput, ErrCodePairRateLimit, ErrCodeAppRateLimit, ErrCodeWABARateLimit:
		return true
	}
	return e.Status == 429 && e.Code == 0
}
