package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/table"
)

// Notifications: one item per conversation, the conversation's current
// notification, listed by its user.
//
//	notification   PK NOTE#<org>#<conversation>  SK NOTE
//	  feed (all)   GSI1 ORG#<org>#NOTES#<user>            <updatedAt>#<conversation>
//	  by state     GSI2 ORG#<org>#NOTES#<user>#<state>    <updatedAt>#<conversation>  (active, snoozed)
//	  unread       GSI3 ORG#<org>#NOTESUNREAD#<user>      <updatedAt>#<conversation>  (sparse)
//	settings       PK ORG#<org>                   SK SETTINGS#NOTIFY
type notificationItem struct {
	table.Keys
	notify.Notification
}

func notificationKey(org, conversationID string) table.Key {
	return table.Key{PK: "NOTE#" + org + "#" + conversationID, SK: "NOTE"}
}

func notesPK(org, user string) string       { return orgKey(org) + "#NOTES#" + user }
func notesUnreadPK(org, user string) string { return orgKey(org) + "#NOTESUNREAD#" + user }
func notifySettingsKey(org string) table.Key {
	return table.Key{PK: orgKey(org), SK: "SETTINGS#NOTIFY"}
}
func notesStatePK(org, user, state string) string { return notesPK(org, user) + "#" + state }

func (it *notificationItem) index() {
	n := &it.Notification
	k := notificationKey(n.Org, n.ConversationID)
	ver := it.Ver
	it.Keys = table.Keys{PK: k.PK, SK: k.SK, Ver: ver}
	if n.UserID == "" {
		return
	}
	sk := tkey(n.UpdatedAt) + "#" + n.ConversationID
	it.GSI1PK, it.GSI1SK = notesPK(n.Org, n.UserID), sk
	if n.State != notify.Dismissed {
		it.GSI2PK, it.GSI2SK = notesStatePK(n.Org, n.UserID, string(n.State)), sk
		if !n.Read {
			it.GSI3PK, it.GSI3SK = notesUnreadPK(n.Org, n.UserID), sk
		}
	}
}

// Notification implements notify.Store.
func (s *Store) Notification(ctx context.Context, org, conversationID string) (*notify.Notification, error) {
	var it notificationItem
	if err := s.t.Get(ctx, notificationKey(org, conversationID), &it); err != nil {
		if errors.Is(err, table.ErrNotFound) {
			return nil, apperr.Wrap(err, apperr.NotFound, "The conversation %s has no notification.", conversationID)
		}
		return nil, fmt.Errorf("get notification of %s: %w", conversationID, err)
	}
	return &it.Notification, nil
}

// UpdateNotification implements notify.Store.
func (s *Store) UpdateNotification(ctx context.Context, org, conversationID string, fn func(*notify.Notification) error) (*notify.Notification, error) {
	var it notificationItem
	err := s.update(ctx, notificationKey(org, conversationID), &it, true, func(bool) ([]table.Op, error) {
		if err := fn(&it.Notification); err != nil {
			return nil, err
		}
		it.Org, it.ConversationID = org, conversationID
		it.index()
		return nil, nil
	})
	if err != nil {
		if errors.Is(err, notify.ErrUnchanged) || apperr.CodeOf(err) != apperr.Internal {
			return nil, err
		}
		return nil, fmt.Errorf("update notification of %s: %w", conversationID, err)
	}
	return &it.Notification, nil
}

// Notifications implements notify.Store.
func (s *Store) Notifications(ctx context.Context, org, user string, f notify.Filter, cursor string, limit int) ([]notify.Notification, string, error) {
	q := table.Query{Index: table.GSI1, PK: notesPK(org, user), Descending: true, Limit: limit}
	if f != notify.FilterAll {
		q.Index, q.PK = table.GSI2, notesStatePK(org, user, string(f))
	}
	var err error
	if q.Cursor, err = decodeCursor(q, cursor); err != nil {
		return nil, "", err
	}
	var page []notificationItem
	next, err := s.t.Query(ctx, q, &page)
	if err != nil {
		return nil, "", fmt.Errorf("query notifications of %s: %w", user, err)
	}
	out := make([]notify.Notification, len(page))
	for i := range page {
		out[i] = page[i].Notification
	}
	return out, encodeCursor(q, next), nil
}

// UnreadNotifications implements notify.Store.
func (s *Store) UnreadNotifications(ctx context.Context, org, user string, limit int) ([]notify.Notification, error) {
	var page []notificationItem
	if _, err := s.t.Query(ctx, table.Query{Index: table.GSI3, PK: notesUnreadPK(org, user), Descending: true, Limit: limit}, &page); err != nil {
		return nil, fmt.Errorf("query unread notifications of %s: %w", user, err)
	}
	out := make([]notify.Notification, len(page))
	for i := range page {
		out[i] = page[i].Notification
	}
	return out, nil
}

type notifySettingsItem struct {
	table.Keys
	notify.Settings
}

// NotifySettings implements notify.Store.
func (s *Store) NotifySettings(ctx context.Context, org string) (notify.Settings, error) {
	var it notifySettingsItem
	err := s.t.Get(ctx, notifySettingsKey(org), &it)
	if errors.Is(err, table.ErrNotFound) {
		return notify.Settings{}, nil
	}
	if err != nil {
		return notify.Settings{}, fmt.Errorf("get notification settings of %s: %w", org, err)
	}
	return it.Settings, nil
}

// SaveNotifySettings implements notify.Store.
func (s *Store) SaveNotifySettings(ctx context.Context, org string, set notify.Settings) error {
	it := &notifySettingsItem{Settings: set}
	k := notifySettingsKey(org)
	it.PK, it.SK = k.PK, k.SK
	if err := s.t.Write(ctx, table.Op{Put: it}); err != nil {
		return fmt.Errorf("save notification settings of %s: %w", org, err)
	}
	return nil
}
