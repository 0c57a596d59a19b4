package media_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/app"
	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/local/fileblob"
	"github.com/wacrm/wacrm/shared/local/filesecrets"
	"github.com/wacrm/wacrm/shared/media"
	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

const (
	phoneNumberID = "106540352242922"
	goodToken     = "acme-token"
	customer      = "15550001111"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// mediaIDPattern finds the media id in a webhook body (message ids start
// with "wamid.").
var mediaIDPattern = regexp.MustCompile(`"id":"[0-9]+"`)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recorder is the media queue: it keeps what was sent.
type recorder struct {
	mu   sync.Mutex
	sent []queue.Outgoing
}

func (r *recorder) Send(_ context.Context, msgs ...queue.Outgoing) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, msgs...)
	return nil
}

// take returns and forgets what was sent so far.
func (r *recorder) take() []queue.Outgoing {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// rig is the app on bolt with Meta's stand-in on httptest. fail answers
// Graph media lookups with a forced error while it returns a status.
type rig struct {
	t         testing.TB
	app       *app.App
	sim       *metasim.Sim
	queue     *recorder
	blobs     blob.Store
	vault     *filesecrets.Store
	lookups   atomic.Int64 // GET /{version}/{media-id}
	downloads atomic.Int64 // GET /_sim/media/{media-id}
	fail      func() (status int, body string)
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{t: t, queue: &recorder{}}
	r.sim = metasim.New(metasim.Config{
		Numbers:  []metasim.Number{{PhoneNumberID: phoneNumberID, AccessTokens: []string{goodToken}}},
		Statuses: []string{}, Logger: quietLog,
	})
	t.Cleanup(r.sim.Close)
	sim := r.sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case strings.HasPrefix(req.URL.Path, "/_sim/media/"):
			r.downloads.Add(1)
		case req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/v23.0/"):
			r.lookups.Add(1)
			if r.fail != nil {
				if status, body := r.fail(); status != 0 {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					_, _ = io.WriteString(w, body)
					return
				}
			}
		}
		sim.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	vault, err := filesecrets.New(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	r.vault = vault
	r.blobs = fileblob.New(filepath.Join(dir, "blobs"), "http://blobs.test", []byte("0123456789abcdef0123456789abcdef"))
	tbl, err := boltstore.Open(filepath.Join(dir, "wacrm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tbl.Close() })
	r.app = app.New(app.Adapters{
		Table: tbl, Blobs: r.blobs, Media: r.queue, Secrets: vault,
		Graph: &whatsapp.GraphClient{BaseURL: srv.URL + "/v23.0", HTTP: &http.Client{Timeout: 10 * time.Second}},
		Log:   quietLog,
	})
	r.app.Media.Throttle.Base = time.Second
	integ := &integration.Integration{ID: "int-acme", Org: "acme", Nickname: "Sales", PhoneNumberID: phoneNumberID, WABAID: "200",
		Active: true, TokenRef: "tokens/int-acme", CreatedBy: "u-admin",
		Preferences: integration.Preferences{UnknownSenders: records.Leads, Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-sam"}}}}
	if err := vault.Put(context.Background(), integ.TokenRef, goodToken); err != nil {
		t.Fatal(err)
	}
	if err := r.app.Store.CreateIntegration(context.Background(), integ); err != nil {
		t.Fatal(err)
	}
	return r
}

// customerSends has the customer send in through the real intake; edit,
// when set, changes the webhook body first (as a tampered or stale
// delivery would). It returns the stored message and the jobs enqueued.
func (r *rig) customerSends(in metasim.Inbound, edit func([]byte) []byte) (*inbox.Message, []queue.Outgoing) {
	r.t.Helper()
	in.PhoneNumberID, in.From = phoneNumberID, customer
	body, res, err := r.sim.BuildInbound(in)
	if err != nil {
		r.t.Fatal(err)
	}
	if edit != nil {
		body = edit(body)
	}
	if err := r.app.Intake.HandleBody(context.Background(), body); err != nil {
		r.t.Fatal(err)
	}
	jobs := r.queue.take()
	if len(jobs) == 0 {
		r.t.Fatalf("no media job for %s", res.ID)
	}
	job, err := media.DecodeJob(jobs[0].Body)
	if err != nil {
		r.t.Fatal(err)
	}
	msg, err := r.app.Store.Message(context.Background(), job.Org, job.ConversationID, job.Timestamp, job.MessageID)
	if err != nil {
		r.t.Fatal(err)
	}
	return msg, jobs
}

// run hands the jobs to the consumer as one batch and returns the ids it
// reported failed.
func (r *rig) run(jobs ...queue.Outgoing) []string {
	r.t.Helper()
	batch := make([]queue.Message, len(jobs))
	for i, j := range jobs {
		batch[i] = queue.Message{ID: "q" + string(rune('a'+i)), Body: j.Body, ReceiveCount: 1}
	}
	return r.app.MediaHandler()(context.Background(), batch)
}

// stored returns the message's media and its attachment item's.
func (r *rig) stored(m *inbox.Message) (msgMedia, attMedia inbox.Media) {
	r.t.Helper()
	got, err := r.app.Store.Message(context.Background(), m.Org, m.ConversationID, m.Timestamp, m.ID)
	if err != nil || got.Media == nil {
		r.t.Fatalf("message %s: %v, media %v", m.ID, err, got)
	}
	atts, _, err := r.app.Store.Attachments(context.Background(), m.Org, m.ConversationID, "", 10)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, a := range atts {
		if a.MessageID == m.ID {
			return *got.Media, a.Media
		}
	}
	r.t.Fatalf("no attachment for %s", m.ID)
	return
}

func TestCopyImage(t *testing.T) {
	r := newRig(t)
	photo := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}, 1000)
	msg, jobs := r.customerSends(metasim.Inbound{Type: whatsapp.TypeImage, Media: photo, MimeType: "image/jpeg", Caption: "the receipt"}, nil)
	if len(jobs) != 1 || jobs[0].Delay != media.DefaultEnqueueDelay {
		t.Fatalf("jobs %+v, want one, delayed %s", jobs, media.DefaultEnqueueDelay)
	}

	if failed := r.run(jobs...); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	wantKey := media.BlobKey(msg.Org, msg.ConversationID, msg.ID)
	got, ct, err := r.blobs.Get(context.Background(), wantKey)
	if err != nil || !bytes.Equal(got, photo) || ct != "image/jpeg" {
		t.Fatalf("blob %s: %d bytes %q %v; want the %d bytes the customer sent", wantKey, len(got), ct, err, len(photo))
	}
	for i, md := range func() []inbox.Media { a, b := r.stored(msg); return []inbox.Media{a, b} }() {
		if md.BlobKey != wantKey || md.Size != int64(len(photo)) || md.Error != "" || md.Caption != "the receipt" {
			t.Errorf("record %d: %+v, want key %s and size %d", i, md, wantKey, len(photo))
		}
	}
	if n := r.downloads.Load(); n != 1 {
		t.Errorf("downloads %d, want 1", n)
	}

	// Duplicate jobs, in one batch and later: acknowledged, no download.
	if failed := r.run(jobs[0], jobs[0]); len(failed) != 0 {
		t.Fatalf("duplicates failed %v", failed)
	}
	if n := r.downloads.Load(); n != 1 {
		t.Errorf("downloads after duplicates %d, want still 1", n)
	}
	if n := r.app.Media.Counts.Skipped.Load(); n != 2 {
		t.Errorf("skipped %d, want 2", n)
	}

	// A second delivery of the webhook stores nothing and enqueues nothing.
	body, _, err := r.sim.BuildInbound(metasim.Inbound{PhoneNumberID: phoneNumberID, From: customer, ID: msg.ID, Type: whatsapp.TypeImage, Media: photo})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.app.Intake.HandleBody(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	if again := r.queue.take(); len(again) != 0 {
		t.Errorf("a duplicate webhook enqueued %d jobs", len(again))
	}
}

func TestCopyRefusals(t *testing.T) {
	replace := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(old), []byte(new)) }
	}
	tests := []struct {
		name          string
		in            metasim.Inbound
		edit          func(msg []byte) []byte
		token         string // replaces the stored access token
		wantReason    string
		wantDownloads int64
	}{
		{
			name:       "image over 5 MB",
			in:         metasim.Inbound{Type: whatsapp.TypeImage, MimeType: "image/jpeg", Media: make([]byte, media.MaxImageBytes+1)},
			wantReason: "The file is 5.1 MB, over WhatsApp's 5 MB limit for images, so no copy was kept.",
		},
		{
			name:       "sticker over 100 KB",
			in:         metasim.Inbound{Type: whatsapp.TypeSticker, MimeType: "image/webp", Media: make([]byte, 150<<10)},
			wantReason: "The file is 150 KB, over WhatsApp's 100 KB limit for stickers, so no copy was kept.",
		},
		{
			name:          "checksum mismatch",
			in:            metasim.Inbound{Type: whatsapp.TypeDocument, MimeType: "application/pdf", Media: []byte("%PDF-1.4 the real quote")},
			edit:          replace(sha256Hex([]byte("%PDF-1.4 the real quote")), sha256Hex([]byte("another file"))),
			wantReason:    media.ReasonChecksum,
			wantDownloads: 1,
		},
		{
			name:       "media id expired at Meta",
			in:         metasim.Inbound{Type: whatsapp.TypeAudio, Voice: true},
			edit:       func(b []byte) []byte { return mediaIDPattern.ReplaceAll(b, []byte(`"id":"1000000000000001"`)) },
			wantReason: media.ReasonExpired,
		},
		{
			name:       "access token revoked",
			in:         metasim.Inbound{Type: whatsapp.TypeVideo},
			token:      "revoked-token",
			wantReason: media.ReasonBadToken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.token != "" {
				if err := r.vault.Put(context.Background(), "tokens/int-acme", tt.token); err != nil {
					t.Fatal(err)
				}
			}
			msg, jobs := r.customerSends(tt.in, tt.edit)
			if failed := r.run(jobs...); len(failed) != 0 {
				t.Fatalf("failed %v, want the job acknowledged", failed)
			}
			m, a := r.stored(msg)
			if m.Error != tt.wantReason || a.Error != tt.wantReason || m.BlobKey != "" || a.BlobKey != "" {
				t.Errorf("message media %+v\nattachment %+v\nwant error %q", m, a, tt.wantReason)
			}
			if n := r.downloads.Load(); n != tt.wantDownloads {
				t.Errorf("downloads %d, want %d", n, tt.wantDownloads)
			}
			if _, _, err := r.blobs.Get(context.Background(), media.BlobKey(msg.Org, msg.ConversationID, msg.ID)); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("blob: %v, want none kept", err)
			}
			// Refused for good: a redelivery does not try again.
			lookups := r.lookups.Load()
			r.run(jobs...)
			if r.lookups.Load() != lookups {
				t.Error("a refused job was tried again")
			}
		})
	}
}

func TestCopyThrottledComesBackLater(t *testing.T) {
	r := newRig(t)
	var throttle atomic.Int64
	throttle.Store(1)
	r.fail = func() (int, string) {
		if throttle.Add(-1) >= 0 {
			return http.StatusBadRequest, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}`
		}
		return 0, ""
	}
	msg, jobs := r.customerSends(metasim.Inbound{Type: whatsapp.TypeImage}, nil)
	if failed := r.run(jobs...); len(failed) != 0 {
		t.Fatalf("failed %v, want the throttled job acknowledged and requeued", failed)
	}
	requeued := r.queue.take()
	if len(requeued) != 1 {
		t.Fatalf("requeued %d jobs, want 1", len(requeued))
	}
	job, err := media.DecodeJob(requeued[0].Body)
	if err != nil || job.Attempt != 2 || requeued[0].Delay < time.Second || requeued[0].Delay > 2*time.Second {
		t.Fatalf("requeued job %+v (delay %s), %v; want attempt 2 after about a second", job, requeued[0].Delay, err)
	}
	if m, _ := r.stored(msg); m.BlobKey != "" || m.Error != "" {
		t.Fatalf("throttled media recorded %+v, want still pending", m)
	}
	if failed := r.run(requeued...); len(failed) != 0 {
		t.Fatalf("second attempt failed %v", failed)
	}
	if m, a := r.stored(msg); m.BlobKey == "" || a.BlobKey == "" {
		t.Errorf("after the throttle passed: message %+v, attachment %+v; want copied", m, a)
	}
}

func TestCopyRetriedByTheQueue(t *testing.T) {
	t.Run("WhatsApp unavailable", func(t *testing.T) {
		r := newRig(t)
		r.fail = func() (int, string) {
			return http.StatusServiceUnavailable, `{"error":{"message":"Service temporarily unavailable","type":"OAuthException","code":2}}`
		}
		msg, jobs := r.customerSends(metasim.Inbound{Type: whatsapp.TypeImage}, nil)
		if failed := r.run(jobs...); len(failed) != 1 {
			t.Fatalf("failed %v, want the job back to the queue", failed)
		}
		if m, _ := r.stored(msg); m.BlobKey != "" || m.Error != "" {
			t.Errorf("media %+v, want still pending", m)
		}
		if n := len(r.queue.take()); n != 0 {
			t.Errorf("%d jobs requeued, want the queue's own retry", n)
		}
		r.fail = nil
		if failed := r.run(jobs...); len(failed) != 0 {
			t.Fatalf("retry failed %v", failed)
		}
		if m, _ := r.stored(msg); m.BlobKey == "" {
			t.Errorf("media %+v, want copied on retry", m)
		}
	})
	t.Run("message not stored yet", func(t *testing.T) {
		r := newRig(t)
		job := media.Job{Org: "acme", ConversationID: "conv_x", MessageID: "wamid.later", Timestamp: time.Now().UTC(),
			WhatsAppMediaID: "1000000000000002", Type: whatsapp.TypeImage}
		if failed := r.run(queue.Outgoing{Body: job.Encode()}); len(failed) != 1 {
			t.Fatalf("failed %v, want the job back to the queue", failed)
		}
		if n := r.lookups.Load(); n != 0 {
			t.Errorf("%d Graph lookups for a message not stored", n)
		}
	})
}

// BenchmarkCopy copies one file per iteration from the simulator on
// loopback into the file blob store and records it: the time and memory a
// media job takes beyond the network (the media function holds the whole
// file in memory).
func BenchmarkCopy(b *testing.B) {
	for _, tc := range []struct {
		name, typ, mime string
		size            int
	}{
		{"image 5 MB", whatsapp.TypeImage, "image/jpeg", media.MaxImageBytes},
		{"document 100 MB", whatsapp.TypeDocument, "application/pdf", media.MaxDocumentBytes},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newRig(b)
			file := bytes.Repeat([]byte{7}, tc.size)
			b.SetBytes(int64(tc.size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				_, jobs := r.customerSends(metasim.Inbound{Type: tc.typ, MimeType: tc.mime, Media: file, ID: fmt.Sprintf("wamid.bench.%d", i)}, nil)
				b.StartTimer()
				if failed := r.run(jobs...); len(failed) != 0 {
					b.Fatalf("failed %v", failed)
				}
			}
			if n := r.app.Media.Counts.Copied.Load(); n == 0 {
				b.Fatal("nothing copied")
			}
		})
	}
}
