package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

// mediaJobs records what intake asked to copy; failNext makes the next
// calls fail, as an unreachable queue would.
type mediaJobs struct {
	mu       sync.Mutex
	got      []inbox.Message
	failNext int
}

func (q *mediaJobs) EnqueueMedia(_ context.Context, m *inbox.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failNext > 0 {
		q.failNext--
		return errors.New("queue unreachable")
	}
	q.got = append(q.got, *m)
	return nil
}

func imageFrom(waID, wamid string, at time.Time) []byte {
	return body(pnid,
		[]map[string]any{{"wa_id": waID, "profile": map[string]any{"name": "Ana"}}},
		[]map[string]any{{"from": waID, "id": wamid, "timestamp": fmt.Sprint(at.Unix()), "type": "image",
			"image": map[string]any{"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "81d3", "caption": "the receipt"}}},
		nil)
}

func TestIntakeEnqueuesMedia(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		f := newFixture(t, s, integration.Assignment{Kind: integration.AssignGroup, IDs: []string{"sales"}})
		jobs := &mediaJobs{}
		f.intake.Media = jobs

		img := imageFrom("15550001111", "wamid.img.1", t0)
		for range 3 { // Meta redelivers
			if err := f.intake.HandleBody(ctx, img); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.intake.HandleBody(ctx, textFrom("15550001111", "Ana", "wamid.txt.1", t0.Add(time.Second), "hola")); err != nil {
			t.Fatal(err)
		}
		if len(jobs.got) != 1 {
			t.Fatalf("%d media jobs, want exactly one for one image delivered three times and a text", len(jobs.got))
		}
		got := jobs.got[0]
		if got.ID != "wamid.img.1" || got.Org != org || got.ConversationID == "" || !got.Timestamp.Equal(t0) ||
			got.Media == nil || got.Media.WhatsAppID != "1003383421387256" || got.Type != "image" {
			t.Errorf("job for %+v (media %+v)", got, got.Media)
		}
		stored := allMessages(t, s, got.ConversationID)
		if len(stored) != 2 {
			t.Errorf("%d messages stored, want 2", len(stored))
		}
		if n := f.intake.Counts.MediaJobs.Load(); n != 1 {
			t.Errorf("MediaJobs count %d, want 1", n)
		}
	})
}

// The job is enqueued before the message is saved: when the queue is
// unreachable nothing is stored and the body is retried, and the retry
// enqueues and saves.
func TestIntakeMediaQueueDown(t *testing.T) {
	s := storage.New(storagetest.Bolt(t))
	ctx := context.Background()
	f := newFixture(t, s, integration.Assignment{Kind: integration.AssignGroup, IDs: []string{"sales"}})
	jobs := &mediaJobs{failNext: 1}
	f.intake.Media = jobs

	img := imageFrom("15550001111", "wamid.img.2", t0)
	if err := f.intake.HandleBody(ctx, img); err == nil {
		t.Fatal("no error while the media queue is down; the body would not be retried")
	}
	if seen, err := s.SeenMessage(ctx, org, "wamid.img.2"); err != nil || seen {
		t.Fatalf("message stored without its media job (seen %v, %v)", seen, err)
	}
	if err := f.intake.HandleBody(ctx, img); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.SeenMessage(ctx, org, "wamid.img.2"); !seen || len(jobs.got) != 1 {
		t.Errorf("after the retry: stored %v, %d jobs; want stored with one job", seen, len(jobs.got))
	}

	// Without a media queue at all, a media message is refused (and kept
	// by the queue for a retry) rather than stored with media nobody copies.
	f.intake.Media = nil
	if err := f.intake.HandleBody(ctx, imageFrom("15550002222", "wamid.img.3", t0)); err == nil {
		t.Error("media message accepted without a media queue")
	}
	if err := f.intake.HandleBody(ctx, textFrom("15550002222", "Bo", "wamid.txt.3", t0, "hi")); err != nil {
		t.Errorf("text without a media queue: %v", err)
	}
}
