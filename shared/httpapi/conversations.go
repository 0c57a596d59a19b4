package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
)

// conversationView is a conversation as the frontend sees it.
type conversationView struct {
	inbox.Conversation
	Window windowView `json:"window"`
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
	vq := inbox.ViewQueryFrom(q)
	if id := q.Get("view"); id != "" {
		v, err := a.view(r, p, id)
		if err != nil {
			return inbox.Filter{}, err
		}
		vq = v.Query.Over(vq)
	}
	f, err := vq.Filter(p.UserID, a.now())
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
	writeJSON(w, http.StatusOK, viewOf(c, a.now()))
	return nil
}

func (a *API) listMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return listInConversation(a, w, r, p, a.Conversations.Messages)
}

func (a *API) listAttachments(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return listInConversation(a, w, r, p, a.Conversations.Attachments)
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
