package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

type orgSettingsItem struct {
	table.Keys
	inbox.OrgSettings
}

func orgSettingsKey(org string) table.Key { return table.Key{PK: orgKey(org), SK: "SETTINGS"} }

// OrgSettings returns an org's settings; an org that never set any has
// the zero settings.
func (s *Store) OrgSettings(ctx context.Context, org string) (inbox.OrgSettings, error) {
	var it orgSettingsItem
	err := s.t.Get(ctx, orgSettingsKey(org), &it)
	if errors.Is(err, table.ErrNotFound) {
		return inbox.OrgSettings{}, nil
	}
	if err != nil {
		return inbox.OrgSettings{}, fmt.Errorf("get settings of %s: %w", org, err)
	}
	return it.OrgSettings, nil
}

// SaveOrgSettings replaces an org's settings.
func (s *Store) SaveOrgSettings(ctx context.Context, org string, v inbox.OrgSettings) error {
	it := &orgSettingsItem{OrgSettings: v}
	k := orgSettingsKey(org)
	it.PK, it.SK = k.PK, k.SK
	if err := s.t.Write(ctx, table.Op{Put: it}); err != nil {
		return fmt.Errorf("save settings of %s: %w", org, err)
	}
	return nil
}
