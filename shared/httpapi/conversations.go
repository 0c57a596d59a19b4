package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/inbox"
)

// conversationView is a conversation as the frontend sees it.
type conversationView struct {
	inbox.Conversation
	Window windowView `json:"window"`
	// NextReply is the price of the next reply (single conversation only).
	NextReply *billing.Quote `json:"nextReply,omitempty"`
}

type windowView struct {
	Open      bool       `json:"open"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

func viewOf(c *inbox.Conversation, now time.Time) conversationView {
	v := conversationView{Conversation: *c}
	if exp := c.WindowExpiresAt(); !exp.IsZero() {
		v.Window = windowView{Open: c.WindowOpen(now), ExpiresAt: &exp}
	}
	return v
}

// filterFromQuery reads the Messages tab's filters: a saved or built-in
// view (?view=) with the request's own conditions over it.
func (a *API) filterFromQuery(r *http.Request, p auth.Principal) (inbox.Filter, error) {
	q := r.URL.Query()
	vq, err := inbox.ViewQueryFrom(q)
	if err != nil {
		return inbox.Filter{}, err
	}
	if id := q.Get("view"); id != "" {
		v, err := a.view(r, p, id)
		if err != nil {
			return inbox.Filter{}, err
		}
		vq = v.Query.Over(vq)
	}
	f, err := vq.Filter(p.UserID, a.now(), inbox.Zone(p.TimeZone, a.orgZone(r.Context(), p.Org)))
	if err != nil {
		return f, err
	}
	f.Cursor = q.Get("cursor")
	f.Limit, err = limitParam(r, 50, 100)
	return f, err
}

func (a *API) listConversations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := a.filterFromQuery(r, p)
	if err != nil {
		return err
	}
	now := a.now()
	items, cursor, err := a.Conversations.Conversations(r.Context(), p.Org, f, now)
	if err != nil {
		return err
	}
	views := make([]conversationView, len(items))
	for i := range items {
		views[i] = viewOf(&items[i], now)
	}
	writeJSON(w, http.StatusOK, newPage(views, cursor))
	return nil
}

func (a *API) getConversation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Conversations.Conversation(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		return err
	}
	v := viewOf(c, a.now())
	if v.NextReply, err = a.nextReply(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// listMessages pages oldest first, or with ?order=desc newest first: the
// conversation view opens on its latest page at the cost of one page.
func (a *API) listMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	messages := a.Conversations.Messages
	switch order := r.URL.Query().Get("order"); order {
	case "", "asc":
	case "desc":
		messages = a.Conversations.MessagesNewestFirst
	default:
		return apperr.E(apperr.Invalid, "order must be asc (oldest first) or desc (newest first), not %q.", order)
	}
	return listInConversation(a, w, r, p, func(ctx context.Context, org, conversationID, cursor string, limit int) ([]messageView, string, error) {
		msgs, next, err := messages(ctx, org, conversationID, cursor, limit)
		if err != nil {
			return nil, "", err
		}
		out := make([]messageView, len(msgs))
		for i := range msgs {
			out[i] = messageView{Message: msgs[i]}
			if md := msgs[i].Media; md != nil {
				v, err := a.mediaViewOf(ctx, md)
				if err != nil {
					return nil, "", err
				}
				out[i].Media = &v
			}
		}
		return out, next, nil
	})
}

func (a *API) listAttachments(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return listInConversation(a, w, r, p, func(ctx context.Context, org, conversationID, cursor string, limit int) ([]attachmentView, string, error) {
		atts, next, err := a.Conversations.Attachments(ctx, org, conversationID, cursor, limit)
		if err != nil {
			return nil, "", err
		}
		out := make([]attachmentView, len(atts))
		for i, at := range atts {
			mv, err := a.mediaViewOf(ctx, &at.Media)
			if err != nil {
				return nil, "", err
			}
			out[i] = attachmentView{MessageID: at.MessageID, Direction: at.Direction, Type: at.Type, Timestamp: at.Timestamp, mediaView: mv}
		}
		return out, next, nil
	})
}

// DownloadURLTTL is how long a media download URL in a list works.
const DownloadURLTTL = 5 * time.Minute

// BlobLinker hands out short-lived download URLs for stored blobs;
// blob.Store implements it.
type BlobLinker interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// mediaView is a message's media as the frontend sees it: where our copy
// is kept stays internal; a short-lived download URL stands for it.
type mediaView struct {
	WhatsAppID  string `json:"whatsappId,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	Caption     string `json:"caption,omitempty"`
	Filename    string `json:"filename,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Error       string `json:"error,omitempty"`
	DownloadURL string `json:"downloadUrl,omitempty"`
}

// messageView is a message with its media as mediaView.
type messageView struct {
	inbox.Message
	Media *mediaView `json:"media,omitempty"` // shadows Message.Media
}

// attachmentView is an item of the Attachments tab.
type attachmentView struct {
	MessageID string          `json:"messageId"`
	Direction inbox.Direction `json:"direction"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	mediaView
}

func (a *API) mediaViewOf(ctx context.Context, md *inbox.Media) (mediaView, error) {
	v := mediaView{
		WhatsAppID: md.WhatsAppID, MimeType: md.MimeType, SHA256: md.SHA256, Caption: md.Caption,
		Filename: md.Filename, Size: md.Size, Error: md.Error,
	}
	if md.BlobKey != "" && a.Blobs != nil {
		u, err := a.Blobs.PresignGet(ctx, md.BlobKey, DownloadURLTTL)
		if err != nil {
			return v, fmt.Errorf("download URL of %s: %w", md.BlobKey, err)
		}
		v.DownloadURL = u
	}
	return v, nil
}

// listInConversation serves a paged list inside one conversation. Reading
// the conversation first makes another org's id a 404 and proves the caller
// may see it before anything in it is read.
func listInConversation[T any](a *API, w http.ResponseWriter, r *http.Request, p auth.Principal,
	list func(ctx context.Context, org, conversationID, cursor string, limit int) ([]T, string, error)) error {
	id := r.PathValue("id")
	if _, err := a.Conversations.Conversation(r.Context(), p.Org, id); err != nil {
		return err
	}
	limit, err := limitParam(r, 50, 200)
	if err != nil {
		return err
	}
	items, cursor, err := list(r.Context(), p.Org, id, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(items, cursor))
	return nil
}
