package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/table"
)

// An integration's phone number claim exists exactly while the integration
// is active (SetIntegrationActive moves both in one transaction): a number is
// connected to at most one active integration across all orgs, and a
// deactivated integration leaves its number free for another profile.

type integrationItem struct {
	table.Keys
	integration.Integration
	Token string `json:"tokenRef,omitempty"`
}

type phoneItem struct {
	table.Keys
	Org           string `json:"org"`
	IntegrationID string `json:"integrationId"`
}

func (it *integrationItem) set(in *integration.Integration) {
	it.Integration = *in
	it.Token = in.TokenRef
	k := integrationKey(in.Org, in.ID)
	it.PK, it.SK = k.PK, k.SK
}

func (it *integrationItem) get() *integration.Integration {
	in := it.Integration
	in.TokenRef = it.Token
	return &in
}

func newPhoneItem(phoneNumberID, org, integrationID string) *phoneItem {
	claim := &phoneItem{Org: org, IntegrationID: integrationID}
	k := phoneKey(phoneNumberID)
	claim.PK, claim.SK = k.PK, k.SK
	return claim
}

// CreateIntegration stores in and claims its phone number id; a number
// claimed by any integration, of any org, is an apperr.Conflict.
func (s *Store) CreateIntegration(ctx context.Context, in *integration.Integration) error {
	it := &integrationItem{}
	it.set(in)
	it.Ver = 1
	err := s.t.Write(ctx,
		table.Op{Put: newPhoneItem(in.PhoneNumberID, in.Org, in.ID), Cond: table.NotExists()},
		table.Op{Put: it, Cond: table.NotExists()},
	)
	switch table.FailedOp(err) {
	case -1:
		if err != nil {
			return fmt.Errorf("create integration %s: %w", in.ID, err)
		}
		return nil
	case 0:
		return apperr.E(apperr.Conflict, "Phone number id %s is already connected to a WhatsApp profile.", in.PhoneNumberID)
	default:
		return apperr.E(apperr.Conflict, "Integration %s already exists.", in.ID)
	}
}

// Integration returns one of org's integrations.
func (s *Store) Integration(ctx context.Context, org, id string) (*integration.Integration, error) {
	var it integrationItem
	if err := s.t.Get(ctx, integrationKey(org, id), &it); err != nil {
		return nil, notFound(err, "integration", id)
	}
	return it.get(), nil
}

// Integrations lists org's integrations, active or not.
func (s *Store) Integrations(ctx context.Context, org string) ([]*integration.Integration, error) {
	var out []*integration.Integration
	cursor := ""
	for {
		var page []integrationItem
		next, err := s.t.Query(ctx, table.Query{PK: orgKey(org), SKPrefix: "INTEG#", Cursor: cursor}, &page)
		if err != nil {
			return nil, fmt.Errorf("query integrations of %s: %w", org, err)
		}
		for i := range page {
			out = append(out, page[i].get())
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// UpdateIntegration changes one integration with fn. The phone number id
// cannot change. Change Active with SetIntegrationActive instead: this
// method leaves the phone number claim as it is.
func (s *Store) UpdateIntegration(ctx context.Context, org, id string, fn func(*integration.Integration) error) (*integration.Integration, error) {
	var it integrationItem
	var out *integration.Integration
	err := s.update(ctx, integrationKey(org, id), &it, false, func(bool) ([]table.Op, error) {
		in := it.get()
		pnid := in.PhoneNumberID
		if err := fn(in); err != nil {
			return nil, err
		}
		in.PhoneNumberID, in.Org, in.ID = pnid, org, id
		in.UpdatedAt = s.now().UTC()
		ver := it.Ver
		it.set(in)
		it.Ver = ver
		out = in
		return nil, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "Integration %s not found.", id)
	}
	return out, err
}

// SetIntegrationActive deactivates or re-activates one of org's
// integrations, moving its phone number claim in the same transaction:
// deactivating releases the number, so it can be connected again (by any
// org); re-activating claims it again, an apperr.Conflict when another
// integration holds it meanwhile. Setting the state it already has changes
// nothing, so both are safe to repeat.
func (s *Store) SetIntegrationActive(ctx context.Context, org, id string, active bool) (*integration.Integration, error) {
	var it integrationItem
	err := s.update(ctx, integrationKey(org, id), &it, false, func(bool) ([]table.Op, error) {
		in := it.get()
		var claim phoneItem
		err := s.t.Get(ctx, phoneKey(in.PhoneNumberID), &claim)
		if err != nil && !errors.Is(err, table.ErrNotFound) {
			return nil, fmt.Errorf("get phone claim %s: %w", in.PhoneNumberID, err)
		}
		held := err == nil
		ours := held && claim.Org == org && claim.IntegrationID == id
		// The claim needs no condition of its own when it is ours: only this
		// integration's updates touch it, and they all check its version.
		var ops []table.Op
		switch {
		case active && !held:
			ops = append(ops, table.Op{Put: newPhoneItem(in.PhoneNumberID, org, id), Cond: table.NotExists()})
		case active && !ours:
			return nil, apperr.E(apperr.Conflict, "Phone number id %s is now connected to another WhatsApp profile, so this one cannot be re-activated.", in.PhoneNumberID)
		case !active && ours:
			k := phoneKey(in.PhoneNumberID)
			ops = append(ops, table.Op{Delete: &k})
		}
		if in.Active == active && len(ops) == 0 {
			return nil, errUnchanged
		}
		in.Active = active
		in.UpdatedAt = s.now().UTC()
		ver := it.Ver
		it.set(in)
		it.Ver = ver
		return ops, nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return it.get(), nil
	case apperr.Is(err, apperr.NotFound):
		return nil, apperr.E(apperr.NotFound, "Integration %s not found.", id)
	case table.FailedOp(err) == 1: // the number was claimed between our read and write
		return nil, apperr.Wrap(err, apperr.Conflict, "Phone number id %s is now connected to another WhatsApp profile, so this one cannot be re-activated.", it.PhoneNumberID)
	case err != nil:
		return nil, fmt.Errorf("set integration %s active=%t: %w", id, active, err)
	}
	return it.get(), nil
}

// IntegrationByPhoneNumber routes a webhook to the integration that claims
// the number; apperr.NotFound when none does, as after SetIntegrationActive
// deactivated its integration.
func (s *Store) IntegrationByPhoneNumber(ctx context.Context, phoneNumberID string) (*integration.Integration, error) {
	var claim phoneItem
	if err := s.t.Get(ctx, phoneKey(phoneNumberID), &claim); err != nil {
		return nil, notFound(err, "phone number", phoneNumberID)
	}
	return s.Integration(ctx, claim.Org, claim.IntegrationID)
}

// --- WABAs connected with Embedded Signup ---

type connectionItem struct {
	table.Keys
	integration.Connection
}

// SaveConnection implements integration.Store: one item per org and WABA,
// replaced when the WABA is connected again.
func (s *Store) SaveConnection(ctx context.Context, c *integration.Connection) error {
	it := &connectionItem{Connection: *c}
	k := connectionKey(c.Org, c.WABAID)
	it.PK, it.SK = k.PK, k.SK
	if err := s.t.Write(ctx, table.Op{Put: it}); err != nil {
		return fmt.Errorf("save connection of WABA %s: %w", c.WABAID, err)
	}
	return nil
}

// Connection returns org's connection of a WABA.
func (s *Store) Connection(ctx context.Context, org, wabaID string) (*integration.Connection, error) {
	var it connectionItem
	if err := s.t.Get(ctx, connectionKey(org, wabaID), &it); err != nil {
		return nil, notFound(err, "connected WhatsApp Business Account", wabaID)
	}
	return &it.Connection, nil
}

// Connections lists org's connected WABAs, by WABA id.
func (s *Store) Connections(ctx context.Context, org string) ([]*integration.Connection, error) {
	var out []*integration.Connection
	cursor := ""
	for {
		var page []connectionItem
		next, err := s.t.Query(ctx, table.Query{PK: orgKey(org), SKPrefix: connectionPrefix, Cursor: cursor}, &page)
		if err != nil {
			return nil, fmt.Errorf("query connections of %s: %w", org, err)
		}
		for i := range page {
			out = append(out, &page[i].Connection)
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
