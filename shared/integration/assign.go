package integration

import (
	"context"
	"fmt"
	"slices"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/users"
)

// Directory knows the org's users.
type Directory interface {
	// Members returns every user the org has had, removed ones included
	// (Removed set), in any order.
	Members(ctx context.Context, org string) ([]users.User, error)
}

// Counter reads round-robin counters. The counter only advances together
// with the creation of the record that used the turn (see Pick), so racing
// deliveries of one new sender cannot skip a member.
type Counter interface {
	Peek(ctx context.Context, key string) (int64, error)
}

// Pick is an owner choice. When Counter is set, the choice took turn Seq of
// that counter, and whoever stores the record must advance the counter from
// Seq to Seq+1 in the same write, or pick again.
type Pick struct {
	Owner   string
	Counter string
	Seq     int64
}

// Assigner picks the owner of a new record by an integration's rule.
type Assigner struct {
	Directory Directory
	Counter   Counter
}

// Owner returns the user a new record from integ should belong to. Only
// assignable users (users.User.Assignable: not disabled, not removed) get
// new records, whatever the rule:
//
//   - user: that user; when they are disabled or removed, the fallback.
//   - users, group, role: round-robin among the assignable ones (a user
//     added by an admin counts before their first sign-in; a role comes
//     from the token or from an admin); when none is left, the fallback.
//     A user id of a user or users rule that the directory has never seen
//     (a profile older than the directory) still counts: only users known
//     to be disabled or removed are skipped.
//   - the fallback: the profile's creator if assignable, else the first
//     assignable admin by id, so the inbox never stalls and someone who can
//     fix the rule sees the record. With nobody at all it is an error.
//
// Round-robin takes members in sorted order, so it is deterministic and
// fair: over n*k assignments each of n members gets k.
func (a Assigner) Owner(ctx context.Context, integ *Integration) (Pick, error) {
	rule := integ.Preferences.Assign
	if len(rule.IDs) == 0 {
		return Pick{}, fmt.Errorf("integration %s: assignment %s names nobody", integ.ID, rule.Kind)
	}
	all, err := a.Directory.Members(ctx, integ.Org)
	if err != nil {
		return Pick{}, fmt.Errorf("users of %s: %w", integ.Org, err)
	}
	var candidates []string
	switch rule.Kind {
	case AssignUser, AssignUsers:
		for _, id := range rule.IDs {
			i := slices.IndexFunc(all, func(u users.User) bool { return u.ID == id })
			if i < 0 || all[i].Assignable() {
				candidates = append(candidates, id)
			}
		}
		if rule.Kind == AssignUser {
			candidates = candidates[:min(1, len(candidates))]
		}
	case AssignGroup, AssignRole:
		for _, u := range all {
			in := slices.Contains(u.Groups, rule.IDs[0])
			if rule.Kind == AssignRole {
				in = u.InRole(rule.IDs[0])
			}
			if in && u.Assignable() {
				candidates = append(candidates, u.ID)
			}
		}
	default:
		return Pick{}, fmt.Errorf("integration %s: unknown assignment kind %q", integ.ID, rule.Kind)
	}
	if len(candidates) == 0 {
		return fallback(integ, all)
	}
	if rule.Kind == AssignUser {
		return Pick{Owner: candidates[0]}, nil
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	key := "assign#" + integ.Org + "#" + integ.ID
	n, err := a.Counter.Peek(ctx, key)
	if err != nil {
		return Pick{}, fmt.Errorf("next assignee for %s: %w", integ.ID, err)
	}
	return Pick{Owner: candidates[n%int64(len(candidates))], Counter: key, Seq: n}, nil
}

// fallback is the owner when the rule finds nobody assignable.
func fallback(integ *Integration, all []users.User) (Pick, error) {
	var admins []string
	for _, u := range all {
		if !u.Assignable() {
			continue
		}
		if u.ID == integ.CreatedBy {
			return Pick{Owner: u.ID}, nil
		}
		if slices.Contains(u.Groups, auth.AdminGroup) || u.InRole(auth.AdminGroup) {
			admins = append(admins, u.ID)
		}
	}
	if len(admins) == 0 {
		return Pick{}, fmt.Errorf("integration %s: nobody can be assigned (%s %v, and no active creator or admin)", integ.ID, integ.Preferences.Assign.Kind, integ.Preferences.Assign.IDs)
	}
	return Pick{Owner: slices.Min(admins)}, nil
}
