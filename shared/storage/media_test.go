package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// inboundWithMedia stores a customer's image message in conversation id.
func inboundWithMedia(t *testing.T, s *storage.Store, org, id, wamid string, at time.Time) *inbox.Message {
	t.Helper()
	conv := &inbox.Conversation{Org: org, ID: id, IntegrationID: "int", PhoneNumberID: "pn",
		Customer: inbox.Customer{WaID: "15550001111"}, Record: inbox.RecordRef{Module: records.Leads, ID: "rec"}, CreatedAt: at}
	msg := &inbox.Message{Org: org, ConversationID: id, ID: wamid, WAMID: wamid, Direction: inbox.Inbound,
		Type: "image", Timestamp: at, Status: inbox.StatusReceived,
		Media: &inbox.Media{WhatsAppID: "1003383421387256", MimeType: "image/jpeg", SHA256: "81d3", Caption: "the receipt"}}
	if _, err := s.SaveInbound(context.Background(), conv, msg, func(c *inbox.Conversation) { c.ApplyInbound(msg, true) }); err != nil {
		t.Fatal(err)
	}
	return msg
}

// mediaOf returns the media as the Messages tab and the Attachments tab
// each read it.
func mediaOf(t *testing.T, s *storage.Store, m *inbox.Message) (inMessages, inAttachments inbox.Media) {
	t.Helper()
	ctx := context.Background()
	msgs, _, err := s.Messages(ctx, m.Org, m.ConversationID, "", 10)
	if err != nil || len(msgs) != 1 || msgs[0].Media == nil {
		t.Fatalf("messages %+v, %v; want the one with media", msgs, err)
	}
	atts, _, err := s.Attachments(ctx, m.Org, m.ConversationID, "", 10)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments %+v, %v; want one", atts, err)
	}
	return *msgs[0].Media, atts[0].Media
}

func TestUpdateMessageMedia(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		msg := inboundWithMedia(t, s, "acme", "c1", "wamid.img.1", outNow)

		err := s.UpdateMessageMedia(ctx, "acme", "c1", outNow, msg.ID, func(m *inbox.Media) error {
			m.BlobKey, m.Size = "media/acme/c1/wamid.img.1", 1234
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := inbox.Media{WhatsAppID: "1003383421387256", MimeType: "image/jpeg", SHA256: "81d3", Caption: "the receipt",
			BlobKey: "media/acme/c1/wamid.img.1", Size: 1234}
		inMsgs, inAtts := mediaOf(t, s, msg)
		if inMsgs != want || inAtts != want {
			t.Errorf("after the copy:\nmessage    %+v\nattachment %+v\nwant       %+v", inMsgs, inAtts, want)
		}

		// An error from fn changes nothing and comes back as it is.
		refused := errors.New("already copied")
		err = s.UpdateMessageMedia(ctx, "acme", "c1", outNow, msg.ID, func(m *inbox.Media) error {
			m.BlobKey = "something else"
			return refused
		})
		if err != refused {
			t.Errorf("fn's error: got %v, want it as it is", err)
		}
		if inMsgs, inAtts := mediaOf(t, s, msg); inMsgs != want || inAtts != want {
			t.Errorf("after a refused change: %+v / %+v", inMsgs, inAtts)
		}

		// Another org, another time, a message without media: not found.
		text := &inbox.Message{Org: "acme", ConversationID: "c1", ID: "wamid.txt", WAMID: "wamid.txt", Direction: inbox.Inbound,
			Type: "text", Text: "hola", Timestamp: outNow.Add(time.Second), Status: inbox.StatusReceived}
		if _, err := s.SaveInbound(ctx, &inbox.Conversation{Org: "acme", ID: "c1"}, text, func(*inbox.Conversation) {}); err != nil {
			t.Fatal(err)
		}
		noop := func(*inbox.Media) error { return nil }
		for _, tc := range []struct {
			name, org, id string
			ts            time.Time
		}{
			{"another org", "other", msg.ID, outNow},
			{"wrong timestamp", "acme", msg.ID, outNow.Add(time.Minute)},
			{"unknown id", "acme", "wamid.none", outNow},
			{"no media", "acme", text.ID, text.Timestamp},
		} {
			if err := s.UpdateMessageMedia(ctx, tc.org, "c1", tc.ts, tc.id, noop); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s: %v, want not found", tc.name, err)
			}
		}
	})
}

// Concurrent writers each change the media once; every change lands on both
// items, and the two never disagree.
func TestUpdateMessageMediaConcurrent(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		msg := inboundWithMedia(t, s, "acme", "c1", "wamid.img.2", outNow)
		const writers = 4
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.UpdateMessageMedia(context.Background(), "acme", "c1", outNow, msg.ID, func(m *inbox.Media) error {
					m.Size++
					return nil
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		inMsgs, inAtts := mediaOf(t, s, msg)
		if inMsgs.Size != writers || inAtts.Size != writers {
			t.Errorf("sizes %d (message) and %d (attachment), want %d each", inMsgs.Size, inAtts.Size, writers)
		}
	})
}
