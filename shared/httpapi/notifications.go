package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/notify"
)

// Notifier serves the notifications feed and its commands.
type Notifier interface {
	Feed(ctx context.Context, p auth.Principal, f notify.Filter, cursor string, limit int) (notify.Feed, error)
	Snooze(ctx context.Context, p auth.Principal, id string, minutes int) (*notify.Notification, error)
	Dismiss(ctx context.Context, p auth.Principal, id string) (*notify.Notification, error)
	ReadAll(ctx context.Context, p auth.Principal) (int, error)
	ReadConversation(ctx context.Context, p auth.Principal, conversationID string) (*inbox.Conversation, error)
	Settings(ctx context.Context, org string) (notify.Settings, error)
	SaveSettings(ctx context.Context, p auth.Principal, s notify.Settings) error
}

// notificationView is a notification as the frontend sees it, without the
// bookkeeping that keeps its count exact.
type notificationView struct {
	ID             string          `json:"id"`
	ConversationID string          `json:"conversationId"`
	Record         inbox.RecordRef `json:"record"`
	From           string          `json:"from"`
	Preview        string          `json:"preview"`
	Count          int             `json:"count"`
	State          notify.State    `json:"state"`
	Read           bool            `json:"read"`
	Reminder       bool            `json:"reminder"`
	WindowClosing  bool            `json:"windowClosing"`
	SnoozedUntil   *time.Time      `json:"snoozedUntil,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
}

func notificationViewOf(n *notify.Notification) notificationView {
	return notificationView{ID: n.ID, ConversationID: n.ConversationID, Record: n.Record, From: n.From, Preview: n.Preview,
		Count: n.Count, State: n.State, Read: n.Read, Reminder: n.Reminder, WindowClosing: n.WindowClosing,
		SnoozedUntil: n.SnoozedUntil, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
}

type notificationPage struct {
	page[notificationView]
	// UnreadCount counts the caller's unread notifications, up to 100
	// (show "99+" at 100).
	UnreadCount int `json:"unreadCount"`
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := notify.ParseFilter(r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	limit, err := limitParam(r, 50, 100)
	if err != nil {
		return err
	}
	feed, err := a.Notifications.Feed(r.Context(), p, f, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	views := make([]notificationView, len(feed.Items))
	for i := range feed.Items {
		views[i] = notificationViewOf(&feed.Items[i])
	}
	writeJSON(w, http.StatusOK, notificationPage{page: newPage(views, feed.Cursor), UnreadCount: feed.Unread})
	return nil
}

type snoozeRequest struct {
	Minutes int `json:"minutes"`
}

func (a *API) snoozeNotification(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req snoozeRequest
	if err := decodeJSON(w, r, 1<<10, &req); err != nil {
		return err
	}
	n, err := a.Notifications.Snooze(r.Context(), p, r.PathValue("id"), req.Minutes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notificationViewOf(n))
	return nil
}

func (a *API) dismissNotification(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, err := a.Notifications.Dismiss(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notificationViewOf(n))
	return nil
}

func (a *API) readNotifications(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, err := a.Notifications.ReadAll(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"marked": n})
	return nil
}

func (a *API) readConversation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Notifications.ReadConversation(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(c, a.now()))
	return nil
}

func (a *API) getNotificationSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	s, err := a.Notifications.Settings(r.Context(), p.Org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsView(s))
	return nil
}

func (a *API) putNotificationSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var s notify.Settings
	if err := decodeJSON(w, r, 1<<10, &s); err != nil {
		return err
	}
	if err := a.Notifications.SaveSettings(r.Context(), p, s); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsView(s))
	return nil
}

// settingsView shows the lead in effect, the default included.
func settingsView(s notify.Settings) notify.Settings {
	m := int(s.WindowWarning() / time.Minute)
	return notify.Settings{WindowWarningMinutes: &m}
}
