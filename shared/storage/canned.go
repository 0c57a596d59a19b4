package storage

import (
	"context"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/table"
)

// maxSearchWords bounds the search entries of one response: a name is found
// from any of its first maxSearchWords words. Each entry is a copy of the
// response (so a search page needs no further reads), which makes a write
// at most maxSearchWords items. Lowering it later is safe: entries past the
// new bound are never returned (see CannedResponses).
const maxSearchWords = 12

// cannedItem is a canned response, or one of its search entries: a copy
// indexed under the name from word Word on.
type cannedItem struct {
	table.Keys
	canned.Response
	Word int `json:"word,omitempty"`
}

func searchStarts(name string) []string {
	starts := canned.WordStarts(name)
	return starts[:min(len(starts), maxSearchWords)]
}

// cannedItems returns the response's item, with its keys in every index,
// followed by its search entries for words 1.. of its name.
func cannedItems(r *canned.Response) []*cannedItem {
	starts := searchStarts(r.Name)
	k := cannedKey(r.Org, r.ID)
	name := cannedNameSK(canned.SearchKey(r.Name), r.ID)
	it := &cannedItem{Response: *r}
	it.Keys = table.Keys{PK: k.PK, SK: k.SK,
		GSI1PK: cannedPK(r.Org, r.Module), GSI1SK: name,
		GSI2PK: cannedPK(r.Org, ""), GSI2SK: name,
	}
	if len(starts) > 0 { // a name of punctuation alone cannot be searched for
		it.GSI3PK, it.GSI3SK = cannedSearchPK(r.Org, r.Module), name
		it.GSI4PK, it.GSI4SK = cannedSearchPK(r.Org, ""), name
	}
	out := []*cannedItem{it}
	for n := 1; n < len(starts); n++ {
		e := &cannedItem{Response: *r, Word: n}
		wk, sk := cannedWordKey(r.Org, r.ID, n), cannedNameSK(starts[n], r.ID)
		e.Keys = table.Keys{PK: wk.PK, SK: wk.SK,
			GSI3PK: cannedSearchPK(r.Org, r.Module), GSI3SK: sk,
			GSI4PK: cannedSearchPK(r.Org, ""), GSI4SK: sk,
		}
		out = append(out, e)
	}
	return out
}

// CreateCannedResponse stores a new, valid response with its search entries.
func (s *Store) CreateCannedResponse(ctx context.Context, r *canned.Response) error {
	if err := r.Validate(); err != nil {
		return err
	}
	items := cannedItems(r)
	items[0].Ver = 1
	ops := []table.Op{{Put: items[0], Cond: table.NotExists()}}
	for _, e := range items[1:] {
		ops = append(ops, table.Op{Put: e})
	}
	err := s.t.Write(ctx, ops...)
	if table.FailedOp(err) == 0 {
		return apperr.Wrap(err, apperr.Conflict, "Canned response %s already exists.", r.ID)
	}
	if err != nil {
		return fmt.Errorf("create canned response %s: %w", r.ID, err)
	}
	return nil
}

// CannedResponse returns one of org's responses; another org's is NotFound.
func (s *Store) CannedResponse(ctx context.Context, org, id string) (*canned.Response, error) {
	var it cannedItem
	if err := s.t.Get(ctx, cannedKey(org, id), &it); err != nil {
		return nil, notFound(err, "canned response", id)
	}
	return &it.Response, nil
}

// UpdateCannedResponse changes one response with fn and moves its index
// entries to the new name, in one transaction. Org, id and authorship
// cannot change; a changed module is an apperr.ModuleImmutable error.
func (s *Store) UpdateCannedResponse(ctx context.Context, org, id string, fn func(*canned.Response) error) (*canned.Response, error) {
	var it cannedItem
	var out canned.Response
	err := s.update(ctx, cannedKey(org, id), &it, false, func(bool) ([]table.Op, error) {
		before := it.Response
		r := before
		if err := fn(&r); err != nil {
			return nil, err
		}
		if err := before.CheckModuleUnchanged(r.Module); err != nil {
			return nil, err
		}
		r.Org, r.ID, r.CreatedBy, r.CreatedAt = before.Org, before.ID, before.CreatedBy, before.CreatedAt
		if err := r.Validate(); err != nil {
			return nil, err
		}
		items := cannedItems(&r)
		ver := it.Ver
		it = *items[0]
		it.Ver = ver
		var ops []table.Op
		for _, e := range items[1:] {
			ops = append(ops, table.Op{Put: e})
		}
		for n := len(items); n < len(searchStarts(before.Name)); n++ {
			wk := cannedWordKey(org, id, n)
			ops = append(ops, table.Op{Delete: &wk})
		}
		out = r
		return ops, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "Canned response %s not found.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("update canned response %s: %w", id, err)
	}
	return &out, nil
}

// DeleteCannedResponse removes one response and its search entries; a
// missing one is NotFound.
func (s *Store) DeleteCannedResponse(ctx context.Context, org, id string) error {
	k := cannedKey(org, id)
	for range maxAttempts {
		var it cannedItem
		if err := s.t.Get(ctx, k, &it); err != nil {
			return notFound(err, "canned response", id)
		}
		// The version condition makes sure the entries deleted are those of
		// the name read, not of a rename that landed in between.
		ops := []table.Op{{Delete: &k, Cond: table.Version(it.Ver)}}
		for n := 1; n < len(searchStarts(it.Name)); n++ {
			wk := cannedWordKey(org, id, n)
			ops = append(ops, table.Op{Delete: &wk})
		}
		err := s.t.Write(ctx, ops...)
		if table.FailedOp(err) == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete canned response %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("delete canned response %s: too much contention", id)
}

// CannedResponses lists org's responses of f.Module (both when empty)
// ordered by name, or, with f.Search, those whose name or one of its words
// starts with the search, ordered by the matching part of the name. Each is
// one Query on an index; a search reads at most maxPagesPerList pages,
// skipping the second and later entries of a name that matches at several
// words.
func (s *Store) CannedResponses(ctx context.Context, org string, f canned.Filter) ([]canned.Response, string, error) {
	if f.Module != "" && f.Module != records.Leads && f.Module != records.Contacts {
		return nil, "", apperr.E(apperr.Invalid, "module must be %s or %s.", records.Leads, records.Contacts)
	}
	limit := f.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	search := canned.SearchKey(f.Search)
	q := table.Query{Index: table.GSI1, PK: cannedPK(org, f.Module)}
	if f.Module == "" {
		q.Index = table.GSI2
	}
	if search != "" {
		q = table.Query{Index: table.GSI3, PK: cannedSearchPK(org, f.Module), SKPrefix: search}
		if f.Module == "" {
			q.Index = table.GSI4
		}
	}
	// Cursors are bound to the search too, not only to the partition.
	scoped := table.Query{Index: q.Index, PK: q.PK + "\x00" + q.SKPrefix}
	cursor, err := decodeCursor(scoped, f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var out []canned.Response
	for range maxPagesPerList {
		q.Cursor, q.Limit = cursor, limit-len(out)
		var page []cannedItem
		next, err := s.queryPage(ctx, q, &page)
		if err != nil {
			return nil, "", fmt.Errorf("query canned responses of %s: %w", org, err)
		}
		for i := range page {
			if search != "" && canned.FirstMatch(searchStarts(page[i].Name), search) != page[i].Word {
				continue // listed at an earlier word of its name
			}
			out = append(out, page[i].Response)
		}
		cursor = next
		if cursor == "" || len(out) >= limit {
			break
		}
	}
	return out, encodeCursor(scoped, cursor), nil
}
