package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

func TestNotificationFeed(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		raise := func(conv, user string, at time.Time) *notify.Notification {
			n, err := s.UpdateNotification(ctx, "acme", conv, func(n *notify.Notification) error {
				notify.ApplyConversation(n, &notify.Conversation{Version: n.ConvVer + 1, Conversation: inbox.Conversation{
					Org: "acme", ID: conv, OwnerID: user, UnreadCount: n.Unread + 1}}, at)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i := range 5 {
			raise(fmt.Sprintf("conv_%d", i), "u-sam", t0.Add(time.Duration(i)*time.Minute))
		}
		raise("conv_lee", "u-lee", t0)
		raise("conv_1", "u-sam", t0.Add(time.Hour)) // a second message: newest now

		items, cursor, err := s.Notifications(ctx, "acme", "u-sam", notify.FilterActive, "", 3)
		if err != nil || len(items) != 3 || cursor == "" {
			t.Fatalf("page 1: %d %q %v", len(items), cursor, err)
		}
		if items[0].ConversationID != "conv_1" || items[0].Count != 2 || items[1].ConversationID != "conv_4" {
			t.Fatalf("not newest first: %+v", items)
		}
		rest, cursor, err := s.Notifications(ctx, "acme", "u-sam", notify.FilterActive, cursor, 3)
		if err != nil || len(rest) != 2 || cursor != "" {
			t.Fatalf("page 2: %d %q %v", len(rest), cursor, err)
		}
		if _, _, err := s.Notifications(ctx, "acme", "u-lee", notify.FilterActive, "bogus", 3); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("bad cursor: %v", err)
		}

		// Snooze one, dismiss one: each list holds what it should.
		_, err = s.UpdateNotification(ctx, "acme", "conv_2", func(n *notify.Notification) error { _, err := notify.Snooze(n, 15, t0); return err })
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.UpdateNotification(ctx, "acme", "conv_3", func(n *notify.Notification) error { notify.Dismiss(n, t0); return nil })
		if err != nil {
			t.Fatal(err)
		}
		count := func(f notify.Filter) int {
			items, _, err := s.Notifications(ctx, "acme", "u-sam", f, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(items)
		}
		if a, z, all := count(notify.FilterActive), count(notify.FilterSnoozed), count(notify.FilterAll); a != 3 || z != 1 || all != 5 {
			t.Fatalf("active %d snoozed %d all %d, want 3 1 5", a, z, all)
		}
		unread, err := s.UnreadNotifications(ctx, "acme", "u-sam", 100)
		if err != nil || len(unread) != 3 {
			t.Fatalf("unread %d %v, want 3 (snoozed and dismissed ones are read)", len(unread), err)
		}
		if other, _, _ := s.Notifications(ctx, "other", "u-sam", notify.FilterAll, "", 100); len(other) != 0 {
			t.Fatalf("another org's user with the same id sees %+v", other)
		}

		// An update function's ErrUnchanged writes nothing.
		before, _ := s.Notification(ctx, "acme", "conv_0")
		if _, err := s.UpdateNotification(ctx, "acme", "conv_0", func(*notify.Notification) error { return notify.ErrUnchanged }); !errors.Is(err, notify.ErrUnchanged) {
			t.Fatal(err)
		}
		after, _ := s.Notification(ctx, "acme", "conv_0")
		if *before != *after {
			t.Fatalf("changed: %+v -> %+v", before, after)
		}
		if _, err := s.Notification(ctx, "acme", "conv_none"); apperr.CodeOf(err) != apperr.NotFound {
			t.Fatalf("missing: %v", err)
		}
	})
}

func TestNotifySettingsAndConnections(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		if set, err := s.NotifySettings(ctx, "acme"); err != nil || set.WindowWarning() != notify.DefaultWindowWarning {
			t.Fatalf("default settings: %+v %v", set, err)
		}
		m := 0
		if err := s.SaveNotifySettings(ctx, "acme", notify.Settings{WindowWarningMinutes: &m}); err != nil {
			t.Fatal(err)
		}
		if set, _ := s.NotifySettings(ctx, "acme"); set.WindowWarning() != 0 {
			t.Fatalf("saved settings: %+v", set)
		}
		if set, _ := s.NotifySettings(ctx, "other"); set.WindowWarning() != notify.DefaultWindowWarning {
			t.Fatalf("another org's settings: %+v", set)
		}

		for _, c := range []notify.Connection{{ID: "a=", Org: "acme", UserID: "u-sam"}, {ID: "b=", Org: "acme", UserID: "u-samuel"}, {ID: "c=", Org: "other", UserID: "u-sam"}} {
			if err := s.SaveWebSocket(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if cs, err := s.WebSockets(ctx, "acme", "u-sam"); err != nil || len(cs) != 1 || cs[0].ID != "a=" {
			t.Fatalf("sam's connections: %+v %v", cs, err)
		}
		if err := s.DeleteWebSocket(ctx, "a="); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebSocket(ctx, "never="); err != nil {
			t.Fatal(err)
		}
		if cs, _ := s.WebSockets(ctx, "acme", ""); len(cs) != 1 || cs[0].ID != "b=" {
			t.Fatalf("acme's connections: %+v", cs)
		}
	})
}
