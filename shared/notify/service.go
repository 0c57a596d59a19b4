package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/schedule"
)

// ErrUnchanged, returned by an update function, leaves the item as it was.
var ErrUnchanged = errors.New("unchanged")

// Store is what notifications need from storage.
type Store interface {
	// Notification returns a conversation's notification; apperr.NotFound
	// when it never had one.
	Notification(ctx context.Context, org, conversationID string) (*Notification, error)
	// UpdateNotification changes a conversation's notification with fn
	// (a zero Notification when there is none yet), atomically; fn
	// returning ErrUnchanged writes nothing, and so does the call.
	UpdateNotification(ctx context.Context, org, conversationID string, fn func(*Notification) error) (*Notification, error)
	// Notifications is a user's feed, newest first.
	Notifications(ctx context.Context, org, user string, f Filter, cursor string, limit int) ([]Notification, string, error)
	// UnreadNotifications returns up to limit of a user's unread ones.
	UnreadNotifications(ctx context.Context, org, user string, limit int) ([]Notification, error)
	Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error)
	UpdateConversation(ctx context.Context, org, id string, fn func(*inbox.Conversation) error) (*inbox.Conversation, error)
	NotifySettings(ctx context.Context, org string) (Settings, error)
	SaveNotifySettings(ctx context.Context, org string, s Settings) error
}

// Service is the notifications feed, its commands, and the consumers of the
// changes and schedules that drive it.
type Service struct {
	Store     Store
	Schedules schedule.Scheduler
	Log       *slog.Logger
	Now       func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// UnreadCap bounds the feed's unread count: past it the feed says "99+".
const UnreadCap = 100

// Feed is a page of a user's notifications.
type Feed struct {
	Items  []Notification
	Cursor string
	// Unread counts the user's unread notifications, up to UnreadCap.
	Unread int
}

// Feed lists p's notifications, newest first.
func (s *Service) Feed(ctx context.Context, p auth.Principal, f Filter, cursor string, limit int) (Feed, error) {
	items, next, err := s.Store.Notifications(ctx, p.Org, p.UserID, f, cursor, limit)
	if err != nil {
		return Feed{}, err
	}
	unread, err := s.Store.UnreadNotifications(ctx, p.Org, p.UserID, UnreadCap)
	if err != nil {
		return Feed{}, err
	}
	return Feed{Items: items, Cursor: next, Unread: len(unread)}, nil
}

// mine changes p's notification id with fn. Another user's notification,
// or one replaced by a newer notification of its conversation, is a 404.
func (s *Service) mine(ctx context.Context, p auth.Principal, id string, fn func(*Notification) error) (*Notification, error) {
	conv, _, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	n, err := s.Store.UpdateNotification(ctx, p.Org, conv, func(n *Notification) error {
		if n.ID != id || n.UserID != p.UserID {
			return apperr.E(apperr.NotFound, "Notification %s not found.", id)
		}
		return fn(n)
	})
	if errors.Is(err, ErrUnchanged) {
		return s.Store.Notification(ctx, p.Org, conv)
	}
	return n, err
}

// Snooze hides p's notification for 15 or 60 minutes; its reminder
// schedule follows from the change (see OnNotification).
func (s *Service) Snooze(ctx context.Context, p auth.Principal, id string, minutes int) (*Notification, error) {
	return s.mine(ctx, p, id, func(n *Notification) error {
		_, err := Snooze(n, minutes, s.now())
		return err
	})
}

// Dismiss closes p's notification; its reminder, if any, is deleted (see
// OnNotification).
func (s *Service) Dismiss(ctx context.Context, p auth.Principal, id string) (*Notification, error) {
	return s.mine(ctx, p, id, func(n *Notification) error {
		if !Dismiss(n, s.now()) {
			return ErrUnchanged
		}
		return nil
	})
}

// ReadAll marks every notification of p read; it returns how many changed.
func (s *Service) ReadAll(ctx context.Context, p auth.Principal) (int, error) {
	changed := 0
	for {
		unread, err := s.Store.UnreadNotifications(ctx, p.Org, p.UserID, UnreadCap)
		if err != nil {
			return changed, err
		}
		if len(unread) == 0 {
			return changed, nil
		}
		for _, u := range unread {
			_, err := s.Store.UpdateNotification(ctx, p.Org, u.ConversationID, func(n *Notification) error {
				if n.UserID != p.UserID || !MarkRead(n, s.now()) {
					return ErrUnchanged
				}
				return nil
			})
			switch {
			case err == nil:
				changed++
			case !errors.Is(err, ErrUnchanged):
				return changed, err
			}
		}
	}
}

// ReadConversation marks a conversation read: its unread count goes to
// zero; its notification is marked seen from the change (OnConversation).
func (s *Service) ReadConversation(ctx context.Context, p auth.Principal, conversationID string) (*inbox.Conversation, error) {
	c, err := s.Store.UpdateConversation(ctx, p.Org, conversationID, func(c *inbox.Conversation) error {
		if c.UnreadCount == 0 {
			return ErrUnchanged
		}
		c.UnreadCount = 0
		return nil
	})
	if errors.Is(err, ErrUnchanged) {
		return s.Store.Conversation(ctx, p.Org, conversationID)
	}
	return c, err
}

// Settings returns an org's settings.
func (s *Service) Settings(ctx context.Context, org string) (Settings, error) {
	return s.Store.NotifySettings(ctx, org)
}

// SaveSettings changes an org's settings; admins only.
func (s *Service) SaveSettings(ctx context.Context, p auth.Principal, set Settings) error {
	if !p.IsAdmin() {
		return apperr.E(apperr.Forbidden, "Only an admin can change notification settings.")
	}
	if err := set.Validate(); err != nil {
		return err
	}
	return s.Store.SaveNotifySettings(ctx, p.Org, set)
}

// OnConversation follows a conversation change (old nil: created; new nil:
// deleted): a new customer message raises or updates the notification of
// the owner; an opened conversation marks it seen; a moved window moves
// the window's schedule. Safe to call again with the same change.
func (s *Service) OnConversation(ctx context.Context, old, new *Conversation) error {
	if new == nil {
		return nil
	}
	oldUnread := 0
	if old != nil {
		oldUnread = old.UnreadCount
	}
	if new.UnreadCount != oldUnread {
		_, err := s.Store.UpdateNotification(ctx, new.Org, new.ID, func(n *Notification) error {
			if n.Seq == 0 && new.UnreadCount < oldUnread {
				return ErrUnchanged // read before anything was raised
			}
			if !ApplyConversation(n, new, s.now()) {
				return ErrUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrUnchanged) {
			return fmt.Errorf("notify conversation %s: %w", new.ID, err)
		}
	}
	if old == nil || !old.WindowExpiresAt().Equal(new.WindowExpiresAt()) {
		return s.scheduleWindow(ctx, &new.Conversation)
	}
	return nil
}

func (s *Service) scheduleWindow(ctx context.Context, c *inbox.Conversation) error {
	set, err := s.Store.NotifySettings(ctx, c.Org)
	if err != nil {
		return err
	}
	f, when, ok := NextWindowFiring(c, set.WindowWarning(), s.now())
	if !ok {
		return nil
	}
	return s.set(ctx, WindowName(c.Org, c.ID), when, f)
}

func (s *Service) set(ctx context.Context, name string, at time.Time, f Firing) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := s.Schedules.Set(ctx, schedule.Schedule{Name: name, At: at, Kind: string(f.Kind), Data: data}); err != nil {
		return fmt.Errorf("set schedule %s: %w", name, err)
	}
	return nil
}

// OnNotification follows a notification change: a snooze sets (or moves)
// its reminder; a dismissal deletes it.
func (s *Service) OnNotification(ctx context.Context, old, new *Notification) error {
	if new == nil {
		return nil
	}
	wasSnoozed := old != nil && old.State == Snoozed && old.SnoozedUntil != nil
	name := ReminderName(new.Org, new.ConversationID)
	switch {
	case new.State == Snoozed && new.SnoozedUntil != nil && (!wasSnoozed || !old.SnoozedUntil.Equal(*new.SnoozedUntil)):
		f := Firing{Kind: KindReminder, Org: new.Org, ConversationID: new.ConversationID}
		return s.set(ctx, name, *new.SnoozedUntil, f)
	case wasSnoozed && new.State == Dismissed:
		if err := s.Schedules.Delete(ctx, name); err != nil {
			return fmt.Errorf("delete schedule %s: %w", name, err)
		}
	}
	return nil
}

// Register registers the handlers of notify's schedules.
func (s *Service) Register(d *schedule.Dispatcher) {
	d.Register(string(KindReminder), s.Fire)
	d.Register(string(KindWindow), s.Fire)
}

// Fire handles a schedule's firing. A stale firing (the snooze moved or
// ended, the window was extended, the work is done) does nothing, so a
// firing delivered twice acts once. An error means: deliver it again.
func (s *Service) Fire(ctx context.Context, sf schedule.Firing) error {
	var f Firing
	if err := json.Unmarshal(sf.Data, &f); err != nil || f.Org == "" || f.ConversationID == "" || (sf.Kind == string(KindWindow) && f.ClosesAt.IsZero()) {
		s.log().ErrorContext(ctx, "schedule firing dropped: not notify's", "name", sf.Name, "data", string(sf.Data), "err", err, metric.BadFiring.Attr())
		return nil
	}
	f.Kind, f.At = Kind(sf.Kind), sf.At
	var err error
	switch {
	case f.Kind == KindReminder:
		err = s.remind(ctx, f)
	case f.Kind == KindWindow && f.Phase == PhaseWarn:
		err = s.warnWindow(ctx, f)
	case f.Kind == KindWindow && f.Phase == PhaseClose:
		err = s.closeWindow(ctx, f)
	default:
		s.log().ErrorContext(ctx, "schedule firing dropped: unknown kind", "kind", f.Kind, "phase", f.Phase, metric.BadFiring.Attr())
		return nil
	}
	if apperr.Is(err, apperr.NotFound) {
		s.log().WarnContext(ctx, "schedule fired for something gone", "kind", f.Kind, "conversation", f.ConversationID, "err", err)
		return nil
	}
	return err
}

func (s *Service) remind(ctx context.Context, f Firing) error {
	c, err := s.Store.Conversation(ctx, f.Org, f.ConversationID)
	if err != nil {
		return err
	}
	_, err = s.Store.UpdateNotification(ctx, f.Org, f.ConversationID, func(n *Notification) error {
		if n.Seq == 0 || n.SnoozedUntil == nil || !sameSecond(f.At, *n.SnoozedUntil) || !Remind(n, *n.SnoozedUntil, c, s.now()) {
			return ErrUnchanged
		}
		return nil
	})
	if errors.Is(err, ErrUnchanged) {
		s.log().InfoContext(ctx, "stale reminder ignored", "conversation", f.ConversationID, "at", f.At)
		return nil
	}
	return err
}

func (s *Service) warnWindow(ctx context.Context, f Firing) error {
	c, err := s.Store.Conversation(ctx, f.Org, f.ConversationID)
	if err != nil {
		return err
	}
	if !sameSecond(f.ClosesAt, c.WindowExpiresAt()) {
		s.log().InfoContext(ctx, "stale window warning ignored", "conversation", f.ConversationID, "closesAt", f.ClosesAt)
		return nil
	}
	if c.UnansweredSince != nil && c.OwnerID != "" {
		_, err := s.Store.UpdateNotification(ctx, f.Org, f.ConversationID, func(n *Notification) error {
			if n.WarnedFor != nil && sameSecond(f.ClosesAt, *n.WarnedFor) {
				return ErrUnchanged // a second delivery of this warning
			}
			WarnWindowClosing(n, c, s.now())
			at := f.ClosesAt
			n.WarnedFor = &at
			return nil
		})
		if err != nil && !errors.Is(err, ErrUnchanged) {
			return err
		}
	}
	next := f
	next.Phase = PhaseClose
	return s.set(ctx, WindowName(f.Org, f.ConversationID), c.WindowExpiresAt(), next)
}

func (s *Service) closeWindow(ctx context.Context, f Firing) error {
	_, err := s.Store.UpdateConversation(ctx, f.Org, f.ConversationID, func(c *inbox.Conversation) error {
		if !sameSecond(f.ClosesAt, c.WindowExpiresAt()) || !c.CloseWindow(c.WindowExpiresAt()) {
			return ErrUnchanged
		}
		return nil
	})
	if errors.Is(err, ErrUnchanged) {
		s.log().InfoContext(ctx, "stale window close ignored", "conversation", f.ConversationID, "closesAt", f.ClosesAt)
		return nil
	}
	return err
}
