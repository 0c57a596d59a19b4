package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

var recNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newRecord(t *testing.T, s *storage.Store, org, waID, owner string) *records.Record {
	t.Helper()
	rec, err := s.ResolveRecord(context.Background(), org, []records.Identity{records.WaIdentity(waID)}, func() (*records.Record, integration.Pick, error) {
		return &records.Record{Org: org, Module: records.Leads, ID: "rec-" + waID, FirstName: "Zoë", WaID: waID, OwnerID: owner, CreatedAt: recNow}, integration.Pick{Owner: owner}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// converse stores an inbound message from rec's person to the number of in,
// as the intake does.
func converse(t *testing.T, s *storage.Store, in *integration.Integration, rec *records.Record, wamid string) *inbox.Conversation {
	t.Helper()
	conv := &inbox.Conversation{
		Org: in.Org, ID: inbox.ConversationID(in.Org, in.PhoneNumberID, rec.ID), IntegrationID: in.ID, PhoneNumberID: in.PhoneNumberID,
		Customer: inbox.Customer{WaID: rec.WaID}, Record: inbox.RecordRef{Module: rec.Module, ID: rec.ID}, OwnerID: rec.OwnerID, CreatedAt: recNow,
	}
	msg := &inbox.Message{Org: in.Org, ConversationID: conv.ID, ID: wamid, WAMID: wamid, Direction: inbox.Inbound, Type: "text", Text: "hi", Timestamp: recNow, Status: inbox.StatusReceived}
	if _, err := s.SaveInbound(context.Background(), conv, msg, func(c *inbox.Conversation) { c.ApplyInbound(msg, true) }); err != nil {
		t.Fatal(err)
	}
	return conv
}

func ownedBy(t *testing.T, s *storage.Store, org, user string) []string {
	t.Helper()
	list, _, err := s.Conversations(context.Background(), org, inbox.Filter{Owner: user}, recNow)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestUpdateRecordMovesConversations(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		sales := newIntegration(t, s, "acme", "int-sales", "111")
		support := newIntegration(t, s, "acme", "int-support", "222")
		newIntegration(t, s, "acme", "int-idle", "333") // no conversation with this number
		rec := newRecord(t, s, "acme", "15550001", "u-ana")
		other := newRecord(t, s, "acme", "15550002", "u-ana")
		c1 := converse(t, s, sales, rec, "wamid.1")
		c2 := converse(t, s, support, rec, "wamid.2")
		c3 := converse(t, s, sales, other, "wamid.3")
		if _, err := s.SetIntegrationActive(ctx, "acme", "int-support", false); err != nil {
			t.Fatal(err) // a deactivated number's conversations still follow the owner
		}

		got, err := s.UpdateRecord(ctx, "acme", records.Leads, rec.ID, func(r *records.Record) error {
			r.OwnerID = "u-ben"
			r.Company = "Acme Ltd"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.OwnerID != "u-ben" || got.Company != "Acme Ltd" || got.UpdatedAt.IsZero() {
			t.Errorf("record after update: %+v", got)
		}
		want := []string{c1.ID, c2.ID}
		slices.Sort(want)
		if got := ownedBy(t, s, "acme", "u-ben"); !slices.Equal(got, want) {
			t.Errorf("u-ben owns %v, want %v", got, want)
		}
		if got := ownedBy(t, s, "acme", "u-ana"); !slices.Equal(got, []string{c3.ID}) {
			t.Errorf("u-ana owns %v, want only the other record's %v", got, c3.ID)
		}
		for _, id := range want {
			c, err := s.Conversation(ctx, "acme", id)
			if err != nil || c.OwnerID != "u-ben" || c.UnreadCount != 1 || c.UnansweredSince == nil {
				t.Errorf("conversation %s after the owner change: %+v, %v", id, c, err)
			}
		}

		// A conversation out of step (created from a record read before the
		// change) is repaired by the next update, even one that changes nothing.
		if _, err := s.UpdateConversation(ctx, "acme", c1.ID, func(c *inbox.Conversation) error { c.OwnerID = "u-ana"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRecord(ctx, "acme", records.Leads, rec.ID, func(*records.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := ownedBy(t, s, "acme", "u-ben"); !slices.Equal(got, want) {
			t.Errorf("after the repairing update u-ben owns %v, want %v", got, want)
		}

		// Another org's id and a wrong module are not found.
		if _, err := s.UpdateRecord(ctx, "other", records.Leads, rec.ID, func(*records.Record) error { return nil }); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("other org: %v, want not found", err)
		}
		if _, err := s.UpdateRecord(ctx, "acme", records.Contacts, rec.ID, func(*records.Record) error { return nil }); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("wrong module: %v, want not found", err)
		}
		// fn's error comes back and nothing changes.
		refused := apperr.E(apperr.Forbidden, "no")
		if _, err := s.UpdateRecord(ctx, "acme", records.Leads, rec.ID, func(r *records.Record) error { r.OwnerID = "u-cy"; return refused }); !errors.Is(err, refused) {
			t.Errorf("fn's error: got %v", err)
		}
		if got := ownedBy(t, s, "acme", "u-cy"); len(got) != 0 {
			t.Errorf("a refused update moved conversations to u-cy: %v", got)
		}
	})
}

// TestUpdateRecordUnderTraffic changes the owner while messages keep
// arriving in the record's conversation: every message is counted and the
// conversation ends with the record's owner.
func TestUpdateRecordUnderTraffic(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		in := newIntegration(t, s, "acme", "int-sales", "111")
		rec := newRecord(t, s, "acme", "15550001", "u-ana")
		conv := converse(t, s, in, rec, "wamid.0")
		const messages, owners = 8, 4 // fewer writers than the store's retry budget (16)
		var wg sync.WaitGroup
		errs := make(chan error, messages+owners)
		for i := range messages {
			wg.Go(func() {
				msg := &inbox.Message{Org: "acme", ConversationID: conv.ID, ID: fmt.Sprint("wamid.x", i), WAMID: fmt.Sprint("wamid.x", i),
					Direction: inbox.Inbound, Type: "text", Timestamp: recNow.Add(time.Duration(i) * time.Second), Status: inbox.StatusReceived}
				_, err := s.SaveInbound(ctx, conv, msg, func(c *inbox.Conversation) { c.ApplyInbound(msg, true) })
				errs <- err
			})
		}
		for i := range owners {
			wg.Go(func() {
				_, err := s.UpdateRecord(ctx, "acme", records.Leads, rec.ID, func(r *records.Record) error {
					r.OwnerID = fmt.Sprint("u-", i)
					return nil
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
		final, err := s.Record(ctx, "acme", records.Leads, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Conversation(ctx, "acme", conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.OwnerID != final.OwnerID || c.UnreadCount != messages+1 {
			t.Errorf("conversation owner %q unread %d; want the record's owner %q and %d", c.OwnerID, c.UnreadCount, final.OwnerID, messages+1)
		}
		if got := ownedBy(t, s, "acme", final.OwnerID); !slices.Equal(got, []string{conv.ID}) {
			t.Errorf("owner index for %s: %v", final.OwnerID, got)
		}
	})
}

func TestUsers(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		for i := range 5 {
			if err := s.UpsertUser(ctx, auth.Principal{Org: "acme", UserID: fmt.Sprint("u-", i), Name: fmt.Sprint("User ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.UpsertUser(ctx, auth.Principal{Org: "other", UserID: "u-eve"}); err != nil {
			t.Fatal(err)
		}
		var all []string
		cursor := ""
		for {
			page, next, err := s.Users(ctx, "acme", cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d, want at most 2", len(page))
			}
			for _, u := range page {
				all = append(all, u.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if want := []string{"u-0", "u-1", "u-2", "u-3", "u-4"}; !slices.Equal(all, want) {
			t.Errorf("users %v, want %v", all, want)
		}
		if _, _, err := s.Users(ctx, "acme", "bogus", 2); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("bad cursor: %v, want invalid", err)
		}
		unknown, err := s.UnassignableUsers(ctx, "acme", []string{"u-1", "u-eve", "u-9", "u-1", "u-9", ""})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"u-eve", "u-9", ""}; !slices.Equal(unknown, want) {
			t.Errorf("unknown %q, want %q", unknown, want)
		}
	})
}
