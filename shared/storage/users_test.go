package storage_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/users"
)

// TestUserLifecycle: an admin adds a user before their first sign-in; the
// sign-in fills in what the token says and keeps what the admin set; a
// disabled user is listed but not assignable; a removed one is gone from
// lists and lookups and a later sign-in does not bring them back; adding
// them again does.
func TestUserLifecycle(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		added := &users.User{ID: "u-new", Org: "acme", Name: "Nia", AssignedRoles: []string{"support"}, AddedBy: "u-admin", CreatedAt: time.Now().UTC()}
		if err := s.AddUser(ctx, added); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUser(ctx, &users.User{ID: "u-new", Org: "acme"}); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("adding an existing user: %v, want conflict", err)
		}
		if u, err := s.User(ctx, "other", "u-new"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another org sees the user: %+v %v", u, err)
		}
		members, _ := s.Members(ctx, "acme")
		if len(members) != 1 || !members[0].InRole("support") || !members[0].Assignable() || members[0].SeenAt != nil {
			t.Errorf("before sign-in: %+v", members)
		}

		// First sign-in: the token's groups and roles, the admin's roles kept.
		if err := s.UpsertUser(ctx, auth.Principal{Org: "acme", UserID: "u-new", Email: "nia@example.com", Groups: []string{"sales"}, Roles: []string{"emea"}}); err != nil {
			t.Fatal(err)
		}
		u, err := s.User(ctx, "acme", "u-new")
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "Nia" || u.Email != "nia@example.com" || !u.InRole("support") || !u.InRole("emea") || !slices.Equal(u.Groups, []string{"sales"}) || u.SeenAt == nil || u.AddedBy != "u-admin" {
			t.Errorf("after sign-in: %+v", u)
		}

		// Disabled: still listed, not assignable, and a sign-in keeps it so.
		if _, err := s.UpdateUser(ctx, "acme", "u-new", func(u *users.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertUser(ctx, auth.Principal{Org: "acme", UserID: "u-new"}); err != nil {
			t.Fatal(err)
		}
		if un, _ := s.UnassignableUsers(ctx, "acme", []string{"u-new"}); len(un) != 1 {
			t.Errorf("a disabled user is assignable")
		}
		if page, _, _ := s.Users(ctx, "acme", "", 10); len(page) != 1 || !page[0].Disabled {
			t.Errorf("list after disabling: %+v", page)
		}

		// Removed: gone, and a sign-in does not bring them back.
		if _, err := s.UpdateUser(ctx, "acme", "u-new", func(u *users.User) error { u.Removed = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertUser(ctx, auth.Principal{Org: "acme", UserID: "u-new", Name: "Nia"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.User(ctx, "acme", "u-new"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("removed user: %v, want not found", err)
		}
		if _, err := s.UpdateUser(ctx, "acme", "u-new", func(*users.User) error { return nil }); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("update of a removed user: %v, want not found", err)
		}
		if page, _, _ := s.Users(ctx, "acme", "", 10); len(page) != 0 {
			t.Errorf("removed user listed: %+v", page)
		}
		if m, _ := s.Members(ctx, "acme"); len(m) != 1 || !m[0].Removed || m[0].Assignable() {
			t.Errorf("members: %+v, want the removed user marked so", m)
		}
		// Added again: back, enabled, still known to have signed in.
		if err := s.AddUser(ctx, &users.User{ID: "u-new", Org: "acme", AddedBy: "u-admin"}); err != nil {
			t.Fatal(err)
		}
		if u, err := s.User(ctx, "acme", "u-new"); err != nil || u.Disabled || u.SeenAt == nil || u.CreatedAt.IsZero() {
			t.Errorf("added again: %+v %v", u, err)
		}
	})
}

// legacyUser is a user item as stored before users had versions.
type legacyUser struct {
	table.Keys
	auth.Principal
	SeenAt time.Time `json:"seenAt"`
}

// TestUserItemsWithoutVersion: users recorded before this change (a plain
// put, no version) are still updated by sign-in and by admins.
func TestUserItemsWithoutVersion(t *testing.T) {
	for name, open := range storagetest.Tables(t) {
		t.Run(name, func(t *testing.T) {
			tbl := open(t)
			s := storage.New(tbl)
			ctx := context.Background()
			it := &legacyUser{Principal: auth.Principal{Org: "acme", UserID: "u-old", Name: "Old", Groups: []string{"sales"}}, SeenAt: time.Now()}
			it.PK, it.SK = "ORG#acme", "USER#u-old"
			if err := tbl.Write(ctx, table.Op{Put: it}); err != nil {
				t.Fatal(err)
			}
			if err := s.UpsertUser(ctx, auth.Principal{Org: "acme", UserID: "u-old", Groups: []string{"sales", "emea"}}); err != nil {
				t.Fatal(err)
			}
			u, err := s.UpdateUser(ctx, "acme", "u-old", func(u *users.User) error { u.Disabled = true; return nil })
			if err != nil || u.Name != "Old" || len(u.Groups) != 2 || !u.Disabled {
				t.Errorf("legacy user: %+v %v", u, err)
			}
		})
	}
}
