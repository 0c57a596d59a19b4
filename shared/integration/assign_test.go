package integration_test

import (
	"context"
	"testing"

	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/users"
)

type fakeDirectory []users.User

func (d fakeDirectory) Members(context.Context, string) ([]users.User, error) { return d, nil }

type fakeCounter int64

func (c fakeCounter) Peek(context.Context, string) (int64, error) { return int64(c), nil }

// TestAssignmentSkipsWhoCannotTakeRecords: disabled users get no new
// records under any rule; a user an admin added counts before their first
// sign-in; a role comes from the token or from an admin; a disabled fixed
// assignee hands over to the profile's creator, then to an admin.
func TestAssignmentSkipsWhoCannotTakeRecords(t *testing.T) {
	dir := fakeDirectory{
		{ID: "u-admin", Groups: []string{"admin"}},
		{ID: "u-ann", Groups: []string{"sales"}, Roles: []string{"emea"}},
		{ID: "u-bob", Groups: []string{"sales"}, Disabled: true},
		{ID: "u-cat", Groups: []string{"sales"}},
		{ID: "u-new", AssignedRoles: []string{"emea"}}, // added by an admin, never signed in
		{ID: "u-zed", Groups: []string{"admin"}},
	}
	integ := func(kind integration.AssignKind, createdBy string, ids ...string) *integration.Integration {
		return &integration.Integration{ID: "int_1", Org: "acme", CreatedBy: createdBy,
			Preferences: integration.Preferences{Assign: integration.Assignment{Kind: kind, IDs: ids}}}
	}
	tests := []struct {
		name  string
		dir   fakeDirectory
		in    *integration.Integration
		turns []string // owners for counter values 0, 1, 2, ...
		err   bool
	}{
		{"group round-robin skips the disabled", dir, integ(integration.AssignGroup, "u-admin", "sales"), []string{"u-ann", "u-cat", "u-ann"}, false},
		{"users round-robin skips the disabled", dir, integ(integration.AssignUsers, "u-admin", "u-bob", "u-cat", "u-new"), []string{"u-cat", "u-new", "u-cat"}, false},
		{"role from the token or an admin", dir, integ(integration.AssignRole, "u-admin", "emea"), []string{"u-ann", "u-new"}, false},
		{"fixed user", dir, integ(integration.AssignUser, "u-admin", "u-new"), []string{"u-new", "u-new"}, false},
		{"fixed user disabled: the creator", dir, integ(integration.AssignUser, "u-cat", "u-bob"), []string{"u-cat"}, false},
		{"fixed user removed: the creator", append(dir, users.User{ID: "u-gone", Removed: true}), integ(integration.AssignUser, "u-cat", "u-gone"), []string{"u-cat"}, false},
		{"fixed user the directory never saw: that user", dir, integ(integration.AssignUser, "u-cat", "u-legacy"), []string{"u-legacy"}, false},
		{"fixed user and creator disabled: the first admin", dir, integ(integration.AssignUser, "u-bob", "u-bob"), []string{"u-admin"}, false},
		{"a group with nobody active: the creator", dir, integ(integration.AssignGroup, "u-zed", "support"), []string{"u-zed"}, false},
		{"nobody at all", fakeDirectory{{ID: "u-bob", Disabled: true}}, integ(integration.AssignUsers, "u-bob", "u-bob"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err {
				if p, err := (integration.Assigner{Directory: tt.dir, Counter: fakeCounter(0)}).Owner(context.Background(), tt.in); err == nil {
					t.Errorf("owner %+v, want an error", p)
				}
				return
			}
			for turn, want := range tt.turns {
				p, err := integration.Assigner{Directory: tt.dir, Counter: fakeCounter(turn)}.Owner(context.Background(), tt.in)
				if err != nil || p.Owner != want {
					t.Errorf("turn %d: %+v %v, want %s", turn, p, err, want)
				}
			}
		})
	}
}
