package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/table"
)

type recordItem struct {
	table.Keys
	records.Record
}

type identityItem struct {
	table.Keys
	Module   records.Module `json:"module"`
	RecordID string         `json:"recordId"`
}

func newRecordItem(r *records.Record) *recordItem {
	it := &recordItem{Record: *r}
	k := recordKey(r.Org, r.Module, r.ID)
	it.PK, it.SK, it.Ver = k.PK, k.SK, 1
	return it
}

func newIdentityItem(org string, id records.Identity, r *records.Record) *identityItem {
	it := &identityItem{Module: r.Module, RecordID: r.ID}
	k := identityKey(org, id)
	it.PK, it.SK = k.PK, k.SK
	return it
}

// Record returns one record.
func (s *Store) Record(ctx context.Context, org string, module records.Module, id string) (*records.Record, error) {
	var it recordItem
	if err := s.t.Get(ctx, recordKey(org, module, id), &it); err != nil {
		return nil, notFound(err, string(module)+" record", id)
	}
	return &it.Record, nil
}

// UpdateRecord changes one record with fn; module, id and org cannot change.
// In the same transaction it sets the owner of the record's conversations
// (one per business number of the org; their ids are derived, see
// inbox.ConversationID) to the record's owner, so the Messages tab's owner
// filter always agrees with the record. Every call checks them all, so any
// update also repairs a conversation that came out of step, such as one
// created by a delivery that read the record just before an owner change.
func (s *Store) UpdateRecord(ctx context.Context, org string, module records.Module, id string, fn func(*records.Record) error) (*records.Record, error) {
	convIDs, err := s.recordConversationIDs(ctx, org, id)
	if err != nil {
		return nil, err
	}
	var it recordItem
	for range maxAttempts {
		err = s.update(ctx, recordKey(org, module, id), &it, false, func(bool) ([]table.Op, error) {
			if err := fn(&it.Record); err != nil {
				return nil, err
			}
			it.Org, it.Module, it.ID = org, module, id
			it.UpdatedAt = s.now().UTC()
			return s.ownerOps(ctx, org, convIDs, it.OwnerID)
		})
		if table.FailedOp(err) < 1 {
			break
		}
		// A conversation changed between our read and write (a message
		// arrived): read everything again.
	}
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "%s record %s not found.", module, id)
	}
	if err != nil {
		return nil, fmt.Errorf("update %s record %s: %w", module, id, err)
	}
	return &it.Record, nil
}

// recordConversationIDs lists the ids a record's conversations have or
// would have: one per distinct phone number among the org's integrations,
// deactivated ones included, since their conversations stay listed.
func (s *Store) recordConversationIDs(ctx context.Context, org, recordID string) ([]string, error) {
	integs, err := s.Integrations(ctx, org)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range integs {
		if id := inbox.ConversationID(org, in.PhoneNumberID, recordID); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// ownerOps returns the writes that give the existing conversations among
// ids the owner, each conditional on the version read.
func (s *Store) ownerOps(ctx context.Context, org string, ids []string, owner string) ([]table.Op, error) {
	var ops []table.Op
	for _, id := range ids {
		it := &conversationItem{}
		err := s.t.Get(ctx, conversationKey(org, id), it)
		if errors.Is(err, table.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get conversation %s: %w", id, err)
		}
		if it.OwnerID == owner {
			continue
		}
		ver := it.Ver
		it.OwnerID = owner
		it.index()
		it.Ver = ver + 1
		ops = append(ops, table.Op{Put: it, Cond: table.Version(ver)})
	}
	if len(ops) >= table.MaxWriteOps {
		return nil, fmt.Errorf("record has %d conversations to update, more than one transaction holds", len(ops))
	}
	return ops, nil
}

// ResolveRecord implements inbox.InboundStore.
func (s *Store) ResolveRecord(ctx context.Context, org string, ids []records.Identity, create func() (*records.Record, integration.Pick, error)) (*records.Record, error) {
	if len(ids) == 0 {
		return nil, apperr.E(apperr.Invalid, "A sender needs a WhatsApp id or a user id.")
	}
	for range maxAttempts {
		var found *identityItem
		var missing []records.Identity
		for _, id := range ids {
			var it identityItem
			err := s.t.Get(ctx, identityKey(org, id), &it)
			switch {
			case err == nil && found == nil:
				found = &it
			case errors.Is(err, table.ErrNotFound):
				missing = append(missing, id)
			case err != nil:
				return nil, fmt.Errorf("get identity %s: %w", id, err)
			}
		}
		if found != nil {
			rec, err := s.Record(ctx, org, found.Module, found.RecordID)
			if err != nil {
				return nil, err
			}
			for _, id := range missing { // link identities seen for the first time
				err := s.t.Write(ctx, table.Op{Put: newIdentityItem(org, id, rec), Cond: table.NotExists()})
				if err != nil && !errors.Is(err, table.ErrConditionFailed) {
					return nil, fmt.Errorf("link identity %s: %w", id, err)
				}
			}
			return rec, nil
		}
		rec, pick, err := create()
		if err != nil {
			return nil, err
		}
		ops := []table.Op{{Put: newRecordItem(rec), Cond: table.NotExists()}}
		for _, id := range ids {
			ops = append(ops, table.Op{Put: newIdentityItem(org, id, rec), Cond: table.NotExists()})
		}
		if pick.Counter != "" {
			ops = append(ops, advance(pick.Counter, pick.Seq))
		}
		err = s.t.Write(ctx, ops...)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, table.ErrConditionFailed) {
			return nil, fmt.Errorf("create record: %w", err)
		}
		// Another delivery created the sender, or took the turn, first: look again.
	}
	return nil, fmt.Errorf("resolve record in %s: too much contention", org)
}
