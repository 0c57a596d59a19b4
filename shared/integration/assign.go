package integration

import (
	"context"
	"fmt"
	"slices"
)

// Directory lists an org's users by group or role.
type Directory interface {
	// Members returns the ids of the org's users in group (kind "group") or
	// role (kind "role"), in any order.
	Members(ctx context.Context, org string, kind AssignKind, name string) ([]string, error)
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

// Owner returns the user a new record from integ should belong to.
// Round-robin takes members in sorted order, so it is deterministic and
// fair: over n*k assignments each of n members gets k.
func (a Assigner) Owner(ctx context.Context, integ *Integration) (Pick, error) {
	rule := integ.Preferences.Assign
	var members []string
	switch rule.Kind {
	case AssignUser:
		if len(rule.IDs) == 0 {
			return Pick{}, fmt.Errorf("integration %s: assignment to a user names no user", integ.ID)
		}
		return Pick{Owner: rule.IDs[0]}, nil
	case AssignUsers:
		members = slices.Clone(rule.IDs)
	case AssignGroup, AssignRole:
		if len(rule.IDs) == 0 {
			return Pick{}, fmt.Errorf("integration %s: assignment to a %s names none", integ.ID, rule.Kind)
		}
		var err error
		members, err = a.Directory.Members(ctx, integ.Org, rule.Kind, rule.IDs[0])
		if err != nil {
			return Pick{}, fmt.Errorf("members of %s %s: %w", rule.Kind, rule.IDs[0], err)
		}
	default:
		return Pick{}, fmt.Errorf("integration %s: unknown assignment kind %q", integ.ID, rule.Kind)
	}
	if len(members) == 0 && integ.CreatedBy != "" {
		return Pick{Owner: integ.CreatedBy}, nil // nobody left in the group: fall back rather than stall the inbox
	}
	if len(members) == 0 {
		return Pick{}, fmt.Errorf("integration %s: no users to assign to (%s %v)", integ.ID, rule.Kind, rule.IDs)
	}
	slices.Sort(members)
	members = slices.Compact(members)
	key := "assign#" + integ.Org + "#" + integ.ID
	n, err := a.Counter.Peek(ctx, key)
	if err != nil {
		return Pick{}, fmt.Errorf("next assignee for %s: %w", integ.ID, err)
	}
	return Pick{Owner: members[n%int64(len(members))], Counter: key, Seq: n}, nil
}
