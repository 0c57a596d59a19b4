package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/users"
)

// Users live in their org's partition (PK ORG#<org>, SK USER#<id>): one
// item per user, written when they sign in (at most once an hour per
// process) and when an admin adds or changes them. A removed user's item
// stays, marked, so a later sign-in does not bring them back.

type userItem struct {
	table.Keys
	users.User
	Removed bool `json:"removed,omitempty"`
}

func (it *userItem) get() *users.User {
	u := it.User
	u.Removed = it.Removed
	return &u
}

func (it *userItem) set(u *users.User) {
	ver := it.Ver
	it.User, it.Removed = *u, u.Removed
	k := userKey(u.Org, u.ID)
	it.PK, it.SK, it.Ver = k.PK, k.SK, ver
}

// updateUser reads the user item at key (zero when absent), calls mutate
// and writes the item back only if nobody wrote in between, retrying on
// conflict. Items written before users had versions carry none; they are
// written once on the condition that they exist.
func (s *Store) updateUser(ctx context.Context, key table.Key, it *userItem, mutate func(exists bool) error) error {
	for range maxAttempts {
		*it = userItem{}
		err := s.t.Get(ctx, key, it)
		exists := err == nil
		if err != nil && !errors.Is(err, table.ErrNotFound) {
			return fmt.Errorf("get %s: %w", key, err)
		}
		ver := it.Ver
		if err := mutate(exists); err != nil {
			return err
		}
		cond := table.Version(ver)
		if exists && ver == 0 {
			cond = table.Exists()
		}
		it.Ver = ver + 1
		err = s.t.Write(ctx, table.Op{Put: it, Cond: cond})
		if errors.Is(err, table.ErrConditionFailed) || errors.Is(err, table.ErrConflict) {
			continue // someone else wrote first: read again
		}
		return err
	}
	return fmt.Errorf("update %s: too much contention", key)
}

// UpsertUser records a user as their token shows them: name, e-mail,
// groups and roles from the identity provider, and when they were seen.
// What an admin set (assigned roles, disabled) stays; a removed user stays
// removed and is not written.
func (s *Store) UpsertUser(ctx context.Context, p auth.Principal) error {
	var it userItem
	err := s.updateUser(ctx, userKey(p.Org, p.UserID), &it, func(exists bool) error {
		u := it.get()
		if exists && u.Removed {
			return errUnchanged
		}
		now := s.now().UTC()
		if !exists {
			u = &users.User{ID: p.UserID, Org: p.Org, CreatedAt: now}
		}
		if p.Name != "" {
			u.Name = p.Name
		}
		if p.Email != "" {
			u.Email = p.Email
		}
		u.Groups, u.Roles = p.Groups, p.Roles
		u.SeenAt, u.UpdatedAt = &now, now
		it.set(u)
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return fmt.Errorf("upsert user %s: %w", p.UserID, err)
	}
	return nil
}

// AddUser implements users.Store: a user an admin adds, apperr.Conflict
// when the org has them already; a removed user is added again.
func (s *Store) AddUser(ctx context.Context, u *users.User) error {
	var it userItem
	err := s.updateUser(ctx, userKey(u.Org, u.ID), &it, func(exists bool) error {
		if exists && !it.Removed {
			return apperr.E(apperr.Conflict, "User %s is already a user of your organisation; change them with PATCH.", u.ID)
		}
		add := *u
		if exists { // keep what the identity provider said of them
			add.Groups, add.Roles, add.SeenAt, add.CreatedAt = it.Groups, it.Roles, it.SeenAt, it.CreatedAt
		}
		it.set(&add)
		*u = add
		return nil
	})
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.ID, err)
	}
	return nil
}

// User implements users.Store.
func (s *Store) User(ctx context.Context, org, id string) (*users.User, error) {
	var it userItem
	if err := s.t.Get(ctx, userKey(org, id), &it); err != nil {
		return nil, notFound(err, "user", id)
	}
	if it.Removed {
		return nil, apperr.E(apperr.NotFound, "The user %s was not found.", id)
	}
	return it.get(), nil
}

// UpdateUser implements users.Store; a removed user is not found.
func (s *Store) UpdateUser(ctx context.Context, org, id string, fn func(*users.User) error) (*users.User, error) {
	var it userItem
	var out *users.User
	err := s.updateUser(ctx, userKey(org, id), &it, func(exists bool) error {
		if !exists || it.Removed {
			return apperr.E(apperr.NotFound, "The user %s was not found.", id)
		}
		u := it.get()
		if err := fn(u); err != nil {
			return err
		}
		u.Org, u.ID = org, id
		it.set(u)
		out = u
		return nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "The user %s was not found.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", id, err)
	}
	return out, nil
}

// Users returns a page of the org's users, by user id; removed users are
// left out (a page may hold fewer than limit).
func (s *Store) Users(ctx context.Context, org, cursor string, limit int) ([]users.User, string, error) {
	q := table.Query{PK: orgKey(org), SKPrefix: userPrefix, Limit: limit}
	var err error
	if q.Cursor, err = decodeCursor(q, cursor); err != nil {
		return nil, "", err
	}
	var page []userItem
	next, err := s.queryPage(ctx, q, &page)
	if err != nil {
		return nil, "", fmt.Errorf("query users of %s: %w", org, err)
	}
	out := make([]users.User, 0, len(page))
	for i := range page {
		if !page[i].Removed {
			out = append(out, *page[i].get())
		}
	}
	return out, encodeCursor(q, next), nil
}

// Members implements integration.Directory: every user the org has had,
// removed ones included (Removed set). It queries the org's user
// partition, whose size is the org's user count.
func (s *Store) Members(ctx context.Context, org string) ([]users.User, error) {
	var out []users.User
	cursor := ""
	for {
		var page []userItem
		next, err := s.t.Query(ctx, table.Query{PK: orgKey(org), SKPrefix: userPrefix, Cursor: cursor, Limit: 200}, &page)
		if err != nil {
			return nil, fmt.Errorf("query users of %s: %w", org, err)
		}
		for i := range page {
			out = append(out, *page[i].get())
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// maxUserLookups bounds one UnassignableUsers call.
const maxUserLookups = 100

// UnassignableUsers returns those of ids that cannot be given a record: not
// users of the org, removed or disabled (users.User.Assignable), in the
// order given; one Get per distinct id, at most maxUserLookups.
func (s *Store) UnassignableUsers(ctx context.Context, org string, ids []string) ([]string, error) {
	if len(ids) > maxUserLookups {
		return nil, apperr.E(apperr.Invalid, "At most %d users can be named at once.", maxUserLookups)
	}
	var out []string
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			continue
		}
		if id == "" {
			out = append(out, id)
			continue
		}
		var it userItem
		err := s.t.Get(ctx, userKey(org, id), &it)
		switch {
		case errors.Is(err, table.ErrNotFound):
			out = append(out, id)
		case err != nil:
			return nil, fmt.Errorf("get user %s: %w", id, err)
		case !it.get().Assignable():
			out = append(out, id)
		}
	}
	return out, nil
}
