package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/table"
)

// Store is wacrm's storage on one table.
type Store struct {
	t   table.Table
	now func() time.Time
}

// New returns a Store on t.
func New(t table.Table) *Store { return &Store{t: t, now: time.Now} }

// WithClock sets the clock (tests).
func (s *Store) WithClock(now func() time.Time) *Store { s.now = now; return s }

// maxAttempts bounds optimistic-concurrency retries on one item.
const maxAttempts = 16

// update reads the item at key into it (zero when absent and create is
// true), calls mutate, and writes it back only if nobody wrote in between,
// retrying on conflict. extra ops are written in the same transaction.
func (s *Store) update(ctx context.Context, key table.Key, it table.Item, create bool, mutate func(exists bool) ([]table.Op, error)) error {
	for range maxAttempts {
		reflect.ValueOf(it).Elem().SetZero() // decode each attempt into a clean item
		err := s.t.Get(ctx, key, it)
		exists := err == nil
		if err != nil && !errors.Is(err, table.ErrNotFound) {
			return fmt.Errorf("get %s: %w", key, err)
		}
		if !exists && !create {
			return apperr.Wrap(err, apperr.NotFound, "Not found.")
		}
		ver := it.TableKeys().Ver
		extra, err := mutate(exists)
		if err != nil {
			return err
		}
		it.TableKeys().Ver = ver + 1
		ops := append([]table.Op{{Put: it, Cond: table.Version(ver)}}, extra...)
		err = s.t.Write(ctx, ops...)
		if table.FailedOp(err) == 0 {
			continue // someone else wrote first: read again
		}
		return err
	}
	return fmt.Errorf("update %s: too much contention", key)
}

// --- users and counters ---

type userItem struct {
	table.Keys
	auth.Principal
	SeenAt time.Time `json:"seenAt"`
}

// UpsertUser records a user as seen in a token, so assignment rules can find
// the members of a group or role.
func (s *Store) UpsertUser(ctx context.Context, p auth.Principal) error {
	it := &userItem{Principal: p, SeenAt: s.now().UTC()}
	k := userKey(p.Org, p.UserID)
	it.PK, it.SK = k.PK, k.SK
	if err := s.t.Write(ctx, table.Op{Put: it}); err != nil {
		return fmt.Errorf("upsert user %s: %w", p.UserID, err)
	}
	return nil
}

// Members implements integration.Directory. It queries the org's user
// partition, whose size is the org's user count.
func (s *Store) Members(ctx context.Context, org string, kind integration.AssignKind, name string) ([]string, error) {
	var out []string
	cursor := ""
	for {
		var page []userItem
		next, err := s.t.Query(ctx, table.Query{PK: orgKey(org), SKPrefix: userPrefix, Cursor: cursor, Limit: 200}, &page)
		if err != nil {
			return nil, fmt.Errorf("query users of %s: %w", org, err)
		}
		for _, u := range page {
			in := u.Groups
			if kind == integration.AssignRole {
				in = u.Roles
			}
			if slices.Contains(in, name) {
				out = append(out, u.UserID)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

type counterItem struct {
	table.Keys
	N int64 `json:"n"`
}

// Peek implements integration.Counter.
func (s *Store) Peek(ctx context.Context, name string) (int64, error) {
	var it counterItem
	err := s.t.Get(ctx, counterKey(name), &it)
	if errors.Is(err, table.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get counter %s: %w", name, err)
	}
	return it.N, nil
}

// advance is the write that takes turn seq of a counter: it fails if the
// turn was taken already. The counter's version is its value.
func advance(name string, seq int64) table.Op {
	it := &counterItem{N: seq + 1}
	k := counterKey(name)
	it.PK, it.SK, it.Ver = k.PK, k.SK, seq+1
	return table.Op{Put: it, Cond: table.Version(seq)}
}

// --- integrations ---

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

// CreateIntegration stores in and claims its phone number id; a number
// claimed by any integration, of any org, is an apperr.Conflict.
func (s *Store) CreateIntegration(ctx context.Context, in *integration.Integration) error {
	it := &integrationItem{}
	it.set(in)
	it.Ver = 1
	claim := &phoneItem{Org: in.Org, IntegrationID: in.ID}
	pk := phoneKey(in.PhoneNumberID)
	claim.PK, claim.SK = pk.PK, pk.SK
	err := s.t.Write(ctx,
		table.Op{Put: claim, Cond: table.NotExists()},
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

// Integrations lists org's integrations.
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
// cannot change.
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

// IntegrationByPhoneNumber routes a webhook to its integration.
func (s *Store) IntegrationByPhoneNumber(ctx context.Context, phoneNumberID string) (*integration.Integration, error) {
	var claim phoneItem
	if err := s.t.Get(ctx, phoneKey(phoneNumberID), &claim); err != nil {
		return nil, notFound(err, "phone number", phoneNumberID)
	}
	return s.Integration(ctx, claim.Org, claim.IntegrationID)
}

// --- records ---

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
func (s *Store) UpdateRecord(ctx context.Context, org string, module records.Module, id string, fn func(*records.Record) error) (*records.Record, error) {
	var it recordItem
	err := s.update(ctx, recordKey(org, module, id), &it, false, func(bool) ([]table.Op, error) {
		if err := fn(&it.Record); err != nil {
			return nil, err
		}
		it.Org, it.Module, it.ID = org, module, id
		it.UpdatedAt = s.now().UTC()
		return nil, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "%s record %s not found.", module, id)
	}
	return &it.Record, err
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

// --- helpers ---

func notFound(err error, what, id string) error {
	if errors.Is(err, table.ErrNotFound) {
		return apperr.Wrap(err, apperr.NotFound, "The %s %s was not found.", what, id)
	}
	return fmt.Errorf("get %s %s: %w", what, id, err)
}

// Cursors handed to API clients are bound to the query they came from, so a
// cursor cannot be replayed against another partition (another org).
type pageCursor struct {
	Q string `json:"q"`
	C string `json:"c"`
}

func scope(q table.Query) string {
	h := sha256.Sum256([]byte(string(q.Index) + "\x00" + q.PK))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

func encodeCursor(q table.Query, next string) string {
	if next == "" {
		return ""
	}
	b, _ := json.Marshal(pageCursor{Q: scope(q), C: next})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(q table.Query, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	var c pageCursor
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Q != scope(q) || c.C == "" {
		return "", apperr.E(apperr.Invalid, "The cursor is not valid for this list.")
	}
	return c.C, nil
}
