package storage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

var cannedNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newCanned(t *testing.T, s *storage.Store, org string, module records.Module, name, text string) *canned.Response {
	t.Helper()
	r, err := canned.New(org, "u1", module, name, text, cannedNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCannedResponse(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func wantCode(t *testing.T, what string, err error, code apperr.Code) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Errorf("%s: err %v, want code %s", what, err, code)
	}
}

func TestCannedResponseLifecycle(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newCanned(t, s, "acme", records.Leads, "Greeting", "Hi $[Leads.First Name]")

		got, err := s.CannedResponse(ctx, "acme", r.ID)
		if err != nil || *got != *r {
			t.Fatalf("CannedResponse = %+v, %v; want %+v", got, err, r)
		}
		_, err = s.CannedResponse(ctx, "other", r.ID)
		wantCode(t, "get from another org", err, apperr.NotFound)
		wantCode(t, "create twice", s.CreateCannedResponse(ctx, r), apperr.Conflict)

		later := cannedNow.Add(time.Hour)
		name, text := "Warm greeting 👋", "Hello $[Leads.Company]"
		up, err := s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
			return c.Apply(canned.Patch{Name: &name, Text: &text}, "u2", later)
		})
		if err != nil {
			t.Fatal(err)
		}
		want := *r
		want.Name, want.Text, want.UpdatedBy, want.UpdatedAt = name, text, "u2", later
		if *up != want {
			t.Errorf("UpdateCannedResponse = %+v, want %+v", up, want)
		}
		if got, _ := s.CannedResponse(ctx, "acme", r.ID); got == nil || *got != want {
			t.Errorf("after update, CannedResponse = %+v, want %+v", got, want)
		}

		_, err = s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
			c.Module = records.Contacts
			return nil
		})
		wantCode(t, "move to Contacts", err, apperr.ModuleImmutable)
		_, err = s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
			c.Text = "Hi $[Contacts.First Name]"
			return nil
		})
		wantCode(t, "text with a Contacts field", err, apperr.Invalid)
		_, err = s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
			c.Org, c.ID, c.CreatedBy = "other", "x", "mallory"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.CannedResponse(ctx, "acme", r.ID); got == nil || got.Org != "acme" || got.ID != r.ID || got.CreatedBy != "u1" {
			t.Errorf("org, id and author must not change: %+v", got)
		}
		_, err = s.UpdateCannedResponse(ctx, "other", r.ID, func(*canned.Response) error { return nil })
		wantCode(t, "update from another org", err, apperr.NotFound)

		wantCode(t, "delete from another org", s.DeleteCannedResponse(ctx, "other", r.ID), apperr.NotFound)
		if err := s.DeleteCannedResponse(ctx, "acme", r.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.CannedResponse(ctx, "acme", r.ID)
		wantCode(t, "get after delete", err, apperr.NotFound)
		wantCode(t, "delete twice", s.DeleteCannedResponse(ctx, "acme", r.ID), apperr.NotFound)
		if got := names(t, s, "acme", canned.Filter{Search: "warm"}); len(got) != 0 {
			t.Errorf("search after delete = %q, want nothing", got)
		}
		if got := names(t, s, "acme", canned.Filter{Search: "greeting"}); len(got) != 0 {
			t.Errorf("search of a later word after delete = %q, want nothing", got)
		}
	})
}

// names lists every page of f and returns the names, failing on a repeat.
func names(t *testing.T, s *storage.Store, org string, f canned.Filter) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for range 100 {
		page, next, err := s.CannedResponses(context.Background(), org, f)
		if err != nil {
			t.Fatalf("CannedResponses(%+v): %v", f, err)
		}
		for _, r := range page {
			if r.Org != org {
				t.Fatalf("listed %s's response %s for %s", r.Org, r.ID, org)
			}
			if f.Module != "" && r.Module != f.Module {
				t.Fatalf("listed a %s response in a %s list", r.Module, f.Module)
			}
			if seen[r.ID] {
				t.Fatalf("%q (%s) listed twice", r.Name, r.ID)
			}
			seen[r.ID] = true
			out = append(out, r.Name)
		}
		if next == "" {
			return out
		}
		f.Cursor = next
	}
	t.Fatal("more than 100 pages")
	return nil
}

func TestCannedResponsesListAndSearch(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		for _, c := range []struct {
			module records.Module
			name   string
		}{
			{records.Leads, "Morning greeting"},
			{records.Leads, "greeting, friendly"},
			{records.Leads, "Follow-up (demo)"},
			{records.Leads, "🎉 Welcome"},
			{records.Leads, "Ñandú price list"},
			{records.Leads, "Oh hi hi"},
			{records.Contacts, "Greeting for customers"},
			{records.Contacts, "Zebra"},
			{records.Contacts, "Straße"},
		} {
			newCanned(t, s, "acme", c.module, c.name, "Hello")
		}
		newCanned(t, s, "other", records.Leads, "Greeting of another org", "Hello")

		tests := []struct {
			name   string
			filter canned.Filter
			want   []string
		}{
			{"leads by name", canned.Filter{Module: records.Leads},
				[]string{"Follow-up (demo)", "greeting, friendly", "Morning greeting", "Oh hi hi", "Ñandú price list", "🎉 Welcome"}},
			{"contacts by name", canned.Filter{Module: records.Contacts},
				[]string{"Greeting for customers", "Straße", "Zebra"}},
			{"both modules", canned.Filter{},
				[]string{"Follow-up (demo)", "Greeting for customers", "greeting, friendly", "Morning greeting", "Oh hi hi", "Straße", "Zebra", "Ñandú price list", "🎉 Welcome"}},
			// Ordered by the matching part: "greeting", "greeting for ...", "greeting friendly".
			{"prefix of a later word, both modules", canned.Filter{Search: "GREET"},
				[]string{"Morning greeting", "Greeting for customers", "greeting, friendly"}},
			{"search within a module", canned.Filter{Module: records.Contacts, Search: "greet"},
				[]string{"Greeting for customers"}},
			{"several words", canned.Filter{Search: "greeting f"},
				[]string{"Greeting for customers", "greeting, friendly"}},
			{"punctuation ignored", canned.Filter{Search: "follow up"}, []string{"Follow-up (demo)"}},
			{"a word in parentheses", canned.Filter{Search: "demo"}, []string{"Follow-up (demo)"}},
			{"matching two words is listed once", canned.Filter{Search: "hi"}, []string{"Oh hi hi"}},
			{"emoji", canned.Filter{Search: "🎉"}, []string{"🎉 Welcome"}},
			{"accented lowercase", canned.Filter{Search: "ñan"}, []string{"Ñandú price list"}},
			{"eszett", canned.Filter{Search: "STRAß"}, []string{"Straße"}},
			{"middle of a word does not match", canned.Filter{Search: "eeting"}, nil},
			{"only punctuation lists all of a module", canned.Filter{Module: records.Contacts, Search: " !? "},
				[]string{"Greeting for customers", "Straße", "Zebra"}},
		}
		for _, tt := range tests {
			for _, limit := range []int{0, 1, 2} {
				t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
					f := tt.filter
					f.Limit = limit
					if got := names(t, s, "acme", f); !slices.Equal(got, tt.want) {
						t.Errorf("got  %q\nwant %q", got, tt.want)
					}
				})
			}
		}
	})
}

func TestCannedRenameMovesIndexEntries(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newCanned(t, s, "acme", records.Leads, "Quote for the big order today", "Hello")
		other := newCanned(t, s, "acme", records.Leads, "Order status", "Hello")
		rename := func(name string) {
			t.Helper()
			_, err := s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
				return c.Apply(canned.Patch{Name: &name}, "u1", cannedNow)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		search := func(q string) []string { return names(t, s, "acme", canned.Filter{Module: records.Leads, Search: q}) }

		rename("Invoice")
		for _, q := range []string{"quote", "big", "order", "today"} {
			want := []string(nil)
			if q == "order" {
				want = []string{other.Name}
			}
			if got := search(q); !slices.Equal(got, want) {
				t.Errorf("after shortening, search %q = %q, want %q", q, got, want)
			}
		}
		if got := search("inv"); !slices.Equal(got, []string{"Invoice"}) {
			t.Errorf("search inv = %q", got)
		}
		rename("Invoice for the order")
		if got := search("order"); !slices.Equal(got, []string{"Invoice for the order", "Order status"}) {
			t.Errorf("after lengthening, search order = %q", got)
		}
		if got := names(t, s, "acme", canned.Filter{Module: records.Leads}); !slices.Equal(got, []string{"Invoice for the order", "Order status"}) {
			t.Errorf("list = %q", got)
		}
	})
}

func TestCannedCursors(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		for i := range 3 {
			newCanned(t, s, "acme", records.Leads, fmt.Sprintf("Greeting %d", i), "Hello")
			newCanned(t, s, "other", records.Leads, fmt.Sprintf("Greeting %d", i), "Hello")
		}
		_, cursor, err := s.CannedResponses(ctx, "acme", canned.Filter{Module: records.Leads, Search: "greet", Limit: 1})
		if err != nil || cursor == "" {
			t.Fatalf("first page: cursor %q, %v", cursor, err)
		}
		for _, tt := range []struct {
			name string
			org  string
			f    canned.Filter
		}{
			{"another org", "other", canned.Filter{Module: records.Leads, Search: "greet"}},
			{"another module", "acme", canned.Filter{Module: records.Contacts, Search: "greet"}},
			{"both modules", "acme", canned.Filter{Search: "greet"}},
			{"another search", "acme", canned.Filter{Module: records.Leads, Search: "greeting 2"}},
			{"no search", "acme", canned.Filter{Module: records.Leads}},
		} {
			tt.f.Cursor = cursor
			_, _, err := s.CannedResponses(ctx, tt.org, tt.f)
			wantCode(t, tt.name, err, apperr.Invalid)
		}
		_, _, err = s.CannedResponses(ctx, "acme", canned.Filter{Cursor: "not-a-cursor"})
		wantCode(t, "garbage cursor", err, apperr.Invalid)
		_, _, err = s.CannedResponses(ctx, "acme", canned.Filter{Module: "Deals"})
		wantCode(t, "unknown module", err, apperr.Invalid)
	})
}

// Concurrent renames must leave exactly the last name's search entries: a
// stale entry would list the response under a word it no longer has.
func TestCannedConcurrentRenames(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newCanned(t, s, "acme", records.Leads, "start", "Hello")
		renames := []string{"alpha", "bravo charlie", "delta echo foxtrot golf", "hotel india", "juliet kilo lima mike november oscar"}
		var wg sync.WaitGroup
		errs := make(chan error, len(renames))
		for _, name := range renames {
			wg.Go(func() {
				_, err := s.UpdateCannedResponse(ctx, "acme", r.ID, func(c *canned.Response) error {
					return c.Apply(canned.Patch{Name: &name}, "u1", cannedNow)
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		final, err := s.CannedResponse(ctx, "acme", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range append(renames, "start") {
			for _, word := range strings.Fields(name) {
				want := []string(nil)
				if slices.Contains(strings.Fields(final.Name), word) {
					want = []string{final.Name}
				}
				if got := names(t, s, "acme", canned.Filter{Search: word}); !slices.Equal(got, want) {
					t.Errorf("final name %q: search %q = %q, want %q", final.Name, word, got, want)
				}
			}
		}
	})
}
