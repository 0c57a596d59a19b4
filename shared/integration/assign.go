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

// Counter hands out 0, 1, 2, ... per key, each value once, across processes.
type Counter interface {
	Next(ctx context.Context, key string) (int64, error)
}

// Assigner picks the owner of a new record by an integration's rule.
type Assigner struct {
	Directory Directory
	Counter   Counter
}

// Owner returns the user a new record from integ should belong to.
// Round-robin takes members in sorted order, so it is deterministic and
// fair: over n*k assignments each of n members gets k.
func (a Assigner) Owner(ctx context.Context, integ *Integration) (string, error) {
	rule := integ.Preferences.Assign
	var members []string
	switch rule.Kind {
	case AssignUser:
		if len(rule.IDs) == 0 {
			return "", fmt.Errorf("integration %s: assignment to a user names no user", integ.ID)
		}
		return rule.IDs[0], nil
	case AssignUsers:
		members = slices.Clone(rule.IDs)
	case AssignGroup, AssignRole:
		if len(rule.IDs) == 0 {
			return "", fmt.Errorf("integration %s: assignment to a %s names none", integ.ID, rule.Kind)
		}
		var err error
		members, err = a.Directory.Members(ctx, integ.Org, rule.Kind, rule.IDs[0])
		if err != nil {
			return "", fmt.Errorf("members of %s %s: %w", rule.Kind, rule.IDs[0], err)
		}
	default:
		return "", fmt.Errorf("integration %s: unknown assignment kind %q", integ.ID, rule.Kind)
	}
	if len(members) == 0 && integ.CreatedBy != "" {
		return integ.CreatedBy, nil // nobody left in the group: fall back rather than stall the inbox
	}
	if len(members) == 0 {
		return "", fmt.Errorf("integration %s: no users to assign to (%s %v)", integ.ID, rule.Kind, rule.IDs)
	}
	slices.Sort(members)
	members = slices.Compact(members)
	n, err := a.Counter.Next(ctx, "assign#"+integ.Org+"#"+integ.ID)
	if err != nil {
		return "", fmt.Errorf("next assignee for %s: %w", integ.ID, err)
	}
	return members[n%int64(len(members))], nil
}
