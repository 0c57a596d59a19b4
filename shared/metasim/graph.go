package metasim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// SentMessage is one message the business sent through the simulator.
type SentMessage struct {
	ID            string          `json:"id"` // wamid
	PhoneNumberID string          `json:"phoneNumberId"`
	To            string          `json:"to,omitempty"`       // wa_id
	ToUserID      string          `json:"toUserId,omitempty"` // BSUID
	Type          string          `json:"type"`
	Text          string          `json:"text,omitempty"` // text body or media caption
	MediaID       string          `json:"mediaId,omitempty"`
	Link          string          `json:"link,omitempty"`
	Filename      string          `json:"filename,omitempty"`
	Template      string          `json:"template,omitempty"`
	ReplyTo       string          `json:"replyTo,omitempty"`
	Time          time.Time       `json:"time"`
	Statuses      []string        `json:"statuses"` // posted so far, in posting order
	Failed        *whatsapp.Error `json:"failed,omitempty"`
	Request       json.RawMessage `json:"request"` // the request body as received
	// BizOpaque is the send's biz_opaque_callback_data, echoed in every
	// status of the message as Meta does.
	BizOpaque string `json:"bizOpaqueCallbackData,omitempty"`
}

// Outbox returns copies of what the business sent to a customer (wa_id,
// phone number in any format, or BSUID), oldest first.
func (s *Sim) Outbox(to string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookupLocked(to)
	norm := NormalizePhone(to)
	var out []SentMessage
	for _, m := range s.sent {
		match := m.To != "" && m.To == norm || m.ToUserID != "" && m.ToUserID == to
		if c != nil {
			match = match || (c.waID != "" && m.To == c.waID) || (c.userID != "" && m.ToUserID == c.userID)
		}
		if match {
			cp := *m
			cp.Statuses = append([]string(nil), m.Statuses...)
			out = append(out, cp)
		}
	}
	return out
}

// MarkedRead reports whether the business marked an inbound message read.
func (s *Sim) MarkedRead(wamid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readMarks[wamid]
}

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// Handler serves the Graph API routes the send path uses and the simulator's
// own /_sim/ routes:
//
//	POST /{version}/{phone-number-id}/messages   send, or mark read
//	POST /{version}/{phone-number-id}/media      upload (multipart)
//	GET  /{version}/{media-id}                   media URL and metadata
//	GET  /{version}/{phone-number-id}            the number, if the token may read it
//	GET  /{version}/{waba-id}/phone_numbers      the account's numbers
//	POST /{version}/{waba-id}/subscribed_apps    subscribe the app to the account's webhooks
//	GET  /{version}/oauth/access_token           Embedded Signup's code for a business token
//	GET  /_sim/media/{media-id}                  download (Bearer token, URL valid 5 minutes)
//	GET  /_sim/outbox?to=...                     what the business sent to a customer
//	POST /_sim/send                              a customer sends (JSON Inbound)
//	POST /_sim/status                            post a status for a sent message
//	POST /_sim/fail                              fail the next sends with a code
//	POST /_sim/signup                            a business completes Embedded Signup: a code
//	GET  /_sim/numbers                           the accounts and numbers hosted
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{phoneNumberID}/messages", s.handleMessages)
	mux.HandleFunc("POST /{version}/{phoneNumberID}/media", s.handleUpload)
	mux.HandleFunc("GET /{version}/{id}", s.handleObject)
	mux.HandleFunc("GET /{version}/oauth/access_token", s.handleAccessToken)
	mux.HandleFunc("GET /{version}/{id}/{edge}", s.handleEdge)
	mux.HandleFunc("POST /{version}/{wabaID}/subscribed_apps", s.handleSubscribedApps)
	mux.HandleFunc("GET /_sim/media/{mediaID}", s.handleDownload)
	mux.HandleFunc("GET /_sim/outbox", s.handleOutbox)
	mux.HandleFunc("POST /_sim/send", s.handleSimSend)
	mux.HandleFunc("POST /_sim/status", s.handleSimStatus)
	mux.HandleFunc("POST /_sim/fail", s.handleSimFail)
	mux.HandleFunc("POST /_sim/signup", s.handleSimSignup)
	mux.HandleFunc("GET /_sim/numbers", s.handleSimNumbers)
	return mux
}

// graphErr writes a Graph API error body.
func graphErr(w http.ResponseWriter, status, code, subcode int, typ, message, details string) {
	var eb whatsapp.GraphErrorBody
	eb.Error.Message, eb.Error.Type, eb.Error.Code, eb.Error.Subcode = message, typ, code, subcode
	if details != "" {
		eb.Error.ErrorData = &struct {
			MessagingProduct string `json:"messaging_product,omitempty"`
			Details          string `json:"details"`
		}{"whatsapp", details}
	}
	eb.Error.FBTraceID = "A" + strconv.FormatUint(randUint64(), 36)
	writeJSON(w, status, eb)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func invalidParam(w http.ResponseWriter, details string) {
	graphErr(w, http.StatusBadRequest, whatsapp.ErrCodeInvalidParameter, 0, "OAuthException", "(#100) Invalid parameter", details)
}

func noSuchObject(w http.ResponseWriter, id string) {
	graphErr(w, http.StatusBadRequest, whatsapp.ErrCodeInvalidParameter, 33, "GraphMethodException",
		fmt.Sprintf("Unsupported request - method type: post. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id), "")
}

// knownErrors are the Meta-shaped answers for forced failures and the window check.
var knownErrors = map[int]struct {
	status         int
	message, title string
	details        string
}{
	whatsapp.ErrCodeAPIService:          {503, "Service temporarily unavailable", "", "Temporary due to downtime or due to being overloaded."},
	whatsapp.ErrCodeAppRateLimit:        {400, "(#4) Application request limit reached", "", "The app has reached its API call rate limit."},
	whatsapp.ErrCodeAccessToken:         {401, "Error validating access token: Session has expired.", "", ""},
	whatsapp.ErrCodeInvalidParameter:    {400, "(#100) Invalid parameter", "", "Invalid parameter."},
	whatsapp.ErrCodeWABARateLimit:       {400, "(#80007) Rate limit issues", "", "The WhatsApp Business Account has reached its rate limit."},
	whatsapp.ErrCodeThroughput:          {400, "(#130429) Rate limit hit", "", "Message failed to send because there were too many messages sent from this phone number in a short period of time."},
	whatsapp.ErrCodeSomethingWentWrong:  {500, "(#131000) Something went wrong", "", "Message failed to send due to an unknown error."},
	whatsapp.ErrCodeServiceUnavailable:  {503, "(#131016) Service unavailable", "", "A service is temporarily unavailable."},
	whatsapp.ErrCodeUndeliverable:       {400, "(#131026) Message undeliverable", "", "Unable to deliver message."},
	whatsapp.ErrCodeWindowClosed:        {400, "(#131047) Re-engagement message", "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
	whatsapp.ErrCodePairRateLimit:       {400, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},
	whatsapp.ErrCodeSpamRateLimit:       {400, "(#131048) Spam rate limit hit", "", "Message failed to send because there are restrictions on how many messages can be sent from this phone number."},
	whatsapp.ErrCodeEcosystemEngagement: {400, "(#131049) This message was not delivered to maintain healthy ecosystem engagement.", "", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
}

func writeKnownError(w http.ResponseWriter, code int) {
	k, ok := knownErrors[code]
	if !ok {
		k.status, k.message = http.StatusBadRequest, fmt.Sprintf("(#%d) Simulated error", code)
	}
	graphErr(w, k.status, code, 0, "OAuthException", k.message, k.details)
}

// authorize checks the bearer token for a phone number id and writes the
// error answer when it fails.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, phoneNumberID string) bool {
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return false
	}
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return false
	}
	if n, exists := s.numbers[phoneNumberID]; !exists || !g.number(n) {
		noSuchObject(w, phoneNumberID)
		return false
	}
	return true
}

// sendRequest is what the simulator reads of a send.
type sendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Recipient        string `json:"recipient"`
	Type             string `json:"type"`
	Status           string `json:"status"`     // "read" for mark-as-read
	MessageID        string `json:"message_id"` // mark-as-read
	Text             *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *whatsapp.OutMedia    `json:"image"`
	Video    *whatsapp.OutMedia    `json:"video"`
	Audio    *whatsapp.OutMedia    `json:"audio"`
	Document *whatsapp.OutMedia    `json:"document"`
	Sticker  *whatsapp.OutMedia    `json:"sticker"`
	Template *whatsapp.OutTemplate `json:"template"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Location    json.RawMessage      `json:"location"`
	Interactive json.RawMessage      `json:"interactive"`
	Contacts    json.RawMessage      `json:"contacts"`
	Context     *whatsapp.OutContext `json:"context"`
	BizOpaque   string               `json:"biz_opaque_callback_data"`
}

func (s *Sim) handleMessages(w http.ResponseWriter, r *http.Request) {
	pnid := r.PathValue("phoneNumberID")
	if !s.authorize(w, r, pnid) {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		invalidParam(w, "could not read the request body")
		return
	}
	var req sendRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		invalidParam(w, "the request body is not valid JSON")
		return
	}
	if req.MessagingProduct != "whatsapp" {
		invalidParam(w, "The parameter messaging_product is required and must be whatsapp.")
		return
	}
	if req.Status == "read" {
		if req.MessageID == "" {
			invalidParam(w, "The parameter message_id is required.")
			return
		}
		s.mu.Lock()
		s.readMarks[req.MessageID] = true
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
		return
	}
	if code, ok := s.takeFailure(); ok {
		writeKnownError(w, code)
		return
	}
	if req.RecipientType != "" && req.RecipientType != "individual" {
		invalidParam(w, "Only recipient_type individual is simulated.")
		return
	}
	sm, details := validateSend(&req)
	if details != "" {
		invalidParam(w, details)
		return
	}
	sm.PhoneNumberID = pnid
	sm.Request = raw
	sm.BizOpaque = req.BizOpaque
	sm.Time = s.now()

	s.mu.Lock()
	var c *customer
	if sm.To != "" {
		c = s.byWaID[sm.To]
	} else {
		c = s.byUserID[sm.ToUserID]
	}
	if sm.Type != whatsapp.TypeTemplate {
		if sm.Type == whatsapp.TypeImage || sm.Type == whatsapp.TypeVideo || sm.Type == whatsapp.TypeAudio || sm.Type == whatsapp.TypeDocument || sm.Type == whatsapp.TypeSticker {
			if sm.MediaID != "" && s.media[sm.MediaID] == nil {
				s.mu.Unlock()
				invalidParam(w, fmt.Sprintf("Media id %s does not exist.", sm.MediaID))
				return
			}
		}
	}
	open := sm.Type == whatsapp.TypeTemplate || s.windowOpenLocked(pnid, c)
	if !open && !s.cfg.WindowClosedAsFailedStatus {
		s.mu.Unlock()
		writeKnownError(w, whatsapp.ErrCodeWindowClosed)
		return
	}
	inWindow := s.windowOpenLocked(pnid, c)
	who := sm.To
	if who == "" {
		who = sm.ToUserID
	}
	sm.ID = NewWamid(who, false)
	var snapshot customer
	if c != nil {
		snapshot = *c
	} else {
		snapshot = customer{waID: sm.To, userID: sm.ToUserID}
	}
	if sm.To != "" && snapshot.userID == "" && !s.cfg.OmitUserIDs {
		snapshot.userID = BSUID(s.numbers[pnid].WABAID, sm.To)
	}
	s.sent = append(s.sent, sm)
	s.sentByID[sm.ID] = sm
	s.mu.Unlock()

	contact := map[string]string{"input": req.To}
	if sm.To != "" {
		contact["wa_id"] = sm.To
	} else {
		contact["input"], contact["user_id"] = req.Recipient, sm.ToUserID
	}
	msg := map[string]string{"id": sm.ID}
	if sm.Type == whatsapp.TypeTemplate {
		msg["message_status"] = "accepted"
	}
	writeJSON(w, http.StatusOK, map[string]any{"messaging_product": "whatsapp", "contacts": []any{contact}, "messages": []any{msg}})

	plan := s.statusPlan(open)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.postStatuses(sm, snapshot, plan, inWindow)
	}()
}

// validateSend checks a send like Meta does and returns the record to keep,
// or a human-readable reason for a 100 error.
func validateSend(req *sendRequest) (*SentMessage, string) {
	sm := &SentMessage{Type: req.Type, Statuses: []string{}}
	switch {
	case req.To != "":
		sm.To = NormalizePhone(req.To)
		if sm.To == "" || strings.Trim(sm.To, "0123456789") != "" || len(sm.To) < 7 || len(sm.To) > 15 {
			return nil, fmt.Sprintf("The parameter to (%q) is not a valid phone number.", req.To)
		}
	case req.Recipient != "":
		sm.ToUserID = req.Recipient
	default:
		return nil, "The parameter to is required."
	}
	if req.Context != nil {
		sm.ReplyTo = req.Context.MessageID
	}
	media := func(md *whatsapp.OutMedia, captionOK bool) string {
		if md == nil {
			return fmt.Sprintf("The parameter %s is required.", req.Type)
		}
		if (md.ID == "") == (md.Link == "") {
			return fmt.Sprintf("%s needs exactly one of id or link.", req.Type)
		}
		if md.Link != "" && !strings.HasPrefix(md.Link, "http://") && !strings.HasPrefix(md.Link, "https://") {
			return "The media link must be an HTTP(S) URL."
		}
		if md.Caption != "" && !captionOK {
			return fmt.Sprintf("%s does not take a caption.", req.Type)
		}
		if len([]rune(md.Caption)) > 1024 {
			return "The caption is longer than 1024 characters."
		}
		sm.MediaID, sm.Link, sm.Text, sm.Filename = md.ID, md.Link, md.Caption, md.Filename
		return ""
	}
	var problem string
	switch req.Type {
	case whatsapp.TypeText:
		switch {
		case req.Text == nil || strings.TrimSpace(req.Text.Body) == "":
			problem = "The parameter text['body'] is required."
		case len([]rune(req.Text.Body)) > 4096:
			problem = "The parameter text['body'] is longer than 4096 characters."
		default:
			sm.Text = req.Text.Body
		}
	case whatsapp.TypeImage:
		problem = media(req.Image, true)
	case whatsapp.TypeVideo:
		problem = media(req.Video, true)
	case whatsapp.TypeDocument:
		problem = media(req.Document, true)
	case whatsapp.TypeAudio:
		problem = media(req.Audio, false)
	case whatsapp.TypeSticker:
		problem = media(req.Sticker, false)
	case whatsapp.TypeTemplate:
		if req.Template == nil || req.Template.Name == "" || req.Template.Language.Code == "" {
			problem = "The parameter template['name'] and template['language']['code'] are required."
		} else {
			sm.Template = req.Template.Name
		}
	case whatsapp.TypeReaction:
		if req.Reaction == nil || req.Reaction.MessageID == "" {
			problem = "The parameter reaction['message_id'] is required."
		} else {
			sm.Text, sm.ReplyTo = req.Reaction.Emoji, req.Reaction.MessageID
		}
	case whatsapp.TypeLocation, whatsapp.TypeInteractive, whatsapp.TypeContacts:
		var part json.RawMessage
		switch req.Type {
		case whatsapp.TypeLocation:
			part = req.Location
		case whatsapp.TypeInteractive:
			part = req.Interactive
		default:
			part = req.Contacts
		}
		if len(part) == 0 || string(part) == "null" {
			problem = fmt.Sprintf("The parameter %s is required.", req.Type)
		}
	case "":
		problem = "The parameter type is required."
	default:
		problem = fmt.Sprintf("Unsupported message type %q.", req.Type)
	}
	if problem != "" {
		return nil, problem
	}
	return sm, ""
}

// statusPlan is the sequence of statuses to post for an accepted send.
func (s *Sim) statusPlan(windowOK bool) []string {
	if !windowOK {
		return []string{whatsapp.StatusFailed}
	}
	plan := append([]string(nil), s.cfg.Statuses...)
	if s.cfg.DuplicateStatuses {
		var dup []string
		for _, st := range plan {
			dup = append(dup, st, st)
		}
		plan = dup
	}
	if s.cfg.ShuffleStatuses {
		s.mu.Lock()
		s.rnd.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
		s.mu.Unlock()
	}
	return plan
}

func (s *Sim) postStatuses(sm *SentMessage, c customer, plan []string, inWindow bool) {
	for _, st := range plan {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.cfg.StatusDelay):
		}
		if err := s.postStatus(s.ctx, sm, c, st, inWindow); err != nil {
			s.log.Warn("metasim: status webhook not delivered", "wamid", sm.ID, "status", st, "err", err)
		}
	}
}

// pricing returns the pricing (and, for CBP, conversation) of a status.
func (s *Sim) pricing(sm *SentMessage, status string, inWindow bool) (*whatsapp.Pricing, *whatsapp.StatusConversation) {
	if status == whatsapp.StatusFailed {
		return nil, nil
	}
	category, typ, billable := "service", "free_customer_service", false
	if sm.Type == whatsapp.TypeTemplate {
		category, typ, billable = "utility", "regular", true
		if inWindow { // utility templates inside an open window are free under PMP
			typ, billable = "free_customer_service", false
		}
	}
	if s.cfg.PricingModel == whatsapp.PricingModelConversation {
		conv := &whatsapp.StatusConversation{ID: fmt.Sprintf("%x", sha256.Sum224([]byte(sm.PhoneNumberID+sm.To+sm.ToUserID)))[:32], Origin: whatsapp.ConversationOrigin{Type: category}}
		if status == whatsapp.StatusSent {
			conv.ExpirationTimestamp = strconv.FormatInt(sm.Time.Add(24*time.Hour).Unix(), 10)
		}
		return &whatsapp.Pricing{Billable: true, PricingModel: "CBP", Category: category}, conv
	}
	return &whatsapp.Pricing{Billable: billable, PricingModel: "PMP", Category: category, Type: typ}, nil
}

// postStatus builds, records and delivers one status webhook for sm.
func (s *Sim) postStatus(ctx context.Context, sm *SentMessage, c customer, status string, inWindow bool) error {
	num := *s.numbers[sm.PhoneNumberID]
	st := whatsapp.Status{
		ID:                    sm.ID,
		Status:                status,
		Timestamp:             strconv.FormatInt(s.now().Unix(), 10),
		RecipientID:           sm.To,
		RecipientUserID:       c.userID,
		BizOpaqueCallbackData: sm.BizOpaque,
	}
	if s.cfg.OmitUserIDs && sm.To != "" {
		st.RecipientUserID = ""
	}
	st.Pricing, st.Conversation = s.pricing(sm, status, inWindow)
	if status == whatsapp.StatusFailed {
		k := knownErrors[whatsapp.ErrCodeWindowClosed]
		st.Errors = []whatsapp.Error{{Code: whatsapp.ErrCodeWindowClosed, Title: k.title, Message: k.title,
			ErrorData: &whatsapp.ErrorData{Details: k.details}, Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}}
		if sm.To != "" { // Meta omits the BSUID of a failed send to a phone number
			st.RecipientUserID = ""
		}
	}
	value := whatsapp.Value{
		MessagingProduct: "whatsapp",
		Metadata:         whatsapp.Metadata{DisplayPhoneNumber: num.DisplayPhoneNumber, PhoneNumberID: num.PhoneNumberID},
		Statuses:         []whatsapp.Status{st},
	}
	if status != whatsapp.StatusFailed && st.RecipientUserID != "" {
		value.Contacts = []whatsapp.Contact{{WaID: sm.To, UserID: st.RecipientUserID, Profile: whatsapp.Profile{Name: c.name}}}
	}
	body, err := s.notification(num, value, nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sm.Statuses = append(sm.Statuses, status)
	if status == whatsapp.StatusFailed {
		sm.Failed = &st.Errors[0]
	}
	s.mu.Unlock()
	_, _, err = s.Deliver(ctx, body)
	return err
}

// PostStatus posts a status webhook for a message the business sent through
// the simulator (for example "read" when the test decides the customer read it).
func (s *Sim) PostStatus(ctx context.Context, wamid, status string) error {
	s.mu.Lock()
	sm := s.sentByID[wamid]
	var c customer
	if sm != nil {
		if cc := s.byWaID[sm.To]; sm.To != "" && cc != nil {
			c = *cc
		} else if cc := s.byUserID[sm.ToUserID]; cc != nil {
			c = *cc
		} else {
			c = customer{waID: sm.To, userID: sm.ToUserID}
		}
	}
	s.mu.Unlock()
	if sm == nil {
		return fmt.Errorf("no sent message %s", wamid)
	}
	return s.postStatus(ctx, sm, c, status, true)
}

func (s *Sim) handleOutbox(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to == "" {
		http.Error(w, "to is required", http.StatusBadRequest)
		return
	}
	msgs := s.Outbox(to)
	if msgs == nil {
		msgs = []SentMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

func (s *Sim) handleSimSend(w http.ResponseWriter, r *http.Request) {
	var in Inbound
	if err := json.NewDecoder(io.LimitReader(r.Body, 110<<20)).Decode(&in); err != nil {
		http.Error(w, "bad inbound message: "+err.Error(), http.StatusBadRequest)
		return
	}
	res, err := s.Send(r.Context(), in)
	if err != nil {
		status := http.StatusBadGateway
		var de *DeliveryError
		if !errors.As(err, &de) {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, map[string]any{"error": err.Error(), "result": res})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Sim) handleSimStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.ID == "" || req.Status == "" {
		http.Error(w, "want {\"id\":wamid,\"status\":...}", http.StatusBadRequest)
		return
	}
	if err := s.PostStatus(r.Context(), req.ID, req.Status); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Sim) handleSimFail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code  int `json:"code"`
		Count int `json:"count"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Code == 0 {
		http.Error(w, "want {\"code\":130429,\"count\":1}", http.StatusBadRequest)
		return
	}
	if req.Count == 0 {
		req.Count = 1
	}
	s.FailNext(req.Code, req.Count)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// mediaExt picks a file extension for a MIME type (for download URLs).
func mediaExt(mimeType string) string {
	base, _, _ := mime.ParseMediaType(mimeType)
	switch base {
	case "image/jpeg":
		return "jpg"
	case "image/png":
		return "png"
	case "image/webp":
		return "webp"
	case "video/mp4":
		return "mp4"
	case "audio/ogg":
		return "ogg"
	case "audio/mpeg":
		return "mp3"
	case "application/pdf":
		return "pdf"
	}
	if exts, _ := mime.ExtensionsByType(base); len(exts) > 0 {
		return strings.TrimPrefix(exts[0], ".")
	}
	return "bin"
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
