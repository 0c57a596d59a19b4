package media

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Store is what copying needs from storage. Messages are addressed by org,
// conversation, timestamp and id, as a Job carries them.
type Store interface {
	// Message returns one message; apperr.NotFound when absent.
	Message(ctx context.Context, org, conversationID string, ts time.Time, id string) (*inbox.Message, error)
	// Conversation returns one conversation; apperr.NotFound when absent.
	Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error)
	// Integration returns one integration; apperr.NotFound when absent.
	Integration(ctx context.Context, org, id string) (*integration.Integration, error)
	// UpdateMessageMedia changes a message's media and its attachment
	// item together: fn changes the media in place, or returns an error
	// that changes nothing and is returned as it is.
	UpdateMessageMedia(ctx context.Context, org, conversationID string, ts time.Time, id string, fn func(*inbox.Media) error) error
}

// Graph resolves and downloads media through the WhatsApp Cloud API; errors
// Meta answered are *whatsapp.GraphError. whatsapp.GraphClient implements it.
type Graph interface {
	MediaURL(ctx context.Context, mediaID, accessToken string) (downloadURL, mimeType string, size int64, err error)
	Download(ctx context.Context, downloadURL, accessToken string) ([]byte, error)
}

// Blobs keeps the copies; blob.Store implements it.
type Blobs interface {
	Put(ctx context.Context, key string, body []byte, contentType string) error
}

// DefaultThrottle is how a job throttled by WhatsApp comes back on the
// queue: 10 attempts in all, 2 s after the first, doubling (capped at
// queue.MaxDelay). After that it is left to the queue's own retries and
// dead-letter queue (the media id lives 7 days, so a dead-lettered job can
// still be redriven).
var DefaultThrottle = queue.Throttle{MaxAttempts: 10, Base: 2 * time.Second}

// Reasons no copy was kept, as the CRM user reads them.
const (
	ReasonExpired       = "WhatsApp no longer has this file (media is kept there for 7 days), so no copy could be made."
	ReasonTooLargeFmt   = "The file is %s, over WhatsApp's %s limit for %s, so no copy was kept."
	ReasonChecksum      = "The file WhatsApp returned did not match the checksum in the message, so no copy was kept."
	ReasonNoIntegration = "The WhatsApp number this message came to is no longer set up, so the file could not be fetched."
	ReasonNoToken       = "The access token of this WhatsApp number is missing, so the file could not be fetched; an admin must reconnect the number."
	ReasonBadToken      = "WhatsApp refused the access token of this number (expired or revoked), so the file could not be fetched; an admin must reconnect the number."
	reasonRefusedFmt    = "WhatsApp refused to hand over the file: %s"
)

// Copier consumes the media queue: for each job it fetches the media from
// the Graph API at once (the download URL lasts 5 minutes), checks its size
// and checksum, keeps it under BlobKey and records the copy on the message
// and its attachment.
//
// It is idempotent: a job for media already copied (or refused for good)
// is acknowledged without a download. Two deliveries of one job running at
// the same moment may both download; both write the same bytes under the
// same key and the first record wins.
type Copier struct {
	Store   Store
	Graph   Graph
	Secrets secrets.Store
	Blobs   Blobs
	// Queue is the media queue itself: throttled jobs go back on it with
	// a delay.
	Queue queue.Sender
	Log   *slog.Logger

	Throttle queue.Throttle // zero fields default to DefaultThrottle's

	Counts Counts
}

// Counts are running totals, for logs and tests.
type Counts struct {
	Downloads, Copied, Bytes, Refused, Throttled, Skipped atomic.Int64
}

// HandleBatch is a queue.BatchHandler. Jobs are independent: a failed one
// is redelivered by the queue, the others are acknowledged. Jobs run one
// after another, so at most one file is held in memory.
func (c *Copier) HandleBatch(ctx context.Context, batch []queue.Message) (failed []string) {
	for _, qm := range batch {
		if err := c.handle(ctx, qm); err != nil {
			log := c.log().WarnContext
			if qm.ReceiveCount >= queue.MaxReceiveCount {
				log = c.log().ErrorContext // its last delivery: next stop, the dead-letter queue
			}
			log(ctx, "media job failed; the queue will redeliver it", "messageId", qm.ID, "receiveCount", qm.ReceiveCount, "err", err)
			failed = append(failed, qm.ID)
		}
	}
	return failed
}

// handle copies one job's media. It returns an error only when the queue
// should deliver the job again.
func (c *Copier) handle(ctx context.Context, qm queue.Message) error {
	if c.Graph == nil || c.Secrets == nil || c.Blobs == nil || c.Queue == nil {
		return errors.New("media path misconfigured: no Graph API client, secrets store, blob store or media queue")
	}
	job, err := DecodeJob(qm.Body)
	if err != nil {
		c.log().ErrorContext(ctx, "media job dropped", "messageId", qm.ID, "err", err, metric.UnprocessableJob.Attr())
		return nil
	}
	log := c.log().With("org", job.Org, "conversation", job.ConversationID, "message", job.MessageID, "mediaId", job.WhatsAppMediaID, "attempt", job.Attempt)

	msg, err := c.Store.Message(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID)
	if apperr.Is(err, apperr.NotFound) {
		// Intake enqueues before it saves: the message is on its way, or
		// its body is being retried. Either way, look again later.
		return fmt.Errorf("message %s not stored yet", job.MessageID)
	}
	if err != nil {
		return err
	}
	md := msg.Media
	switch {
	case md == nil || md.WhatsAppID == "":
		log.ErrorContext(ctx, "media job for a message without media dropped", metric.MediaMissing.Attr())
		return nil
	case md.BlobKey != "" || md.Error != "":
		c.Counts.Skipped.Add(1)
		return nil
	}
	conv, err := c.Store.Conversation(ctx, job.Org, job.ConversationID)
	if err != nil {
		return err
	}
	integ, err := c.Store.Integration(ctx, job.Org, conv.IntegrationID)
	if apperr.Is(err, apperr.NotFound) {
		return c.refuse(ctx, log, job, ReasonNoIntegration)
	}
	if err != nil {
		return err
	}
	// A deactivated number's token still fetches what its customers sent
	// before it was deactivated: nothing they sent is lost.
	token, err := c.Secrets.Get(ctx, integ.TokenRef)
	if errors.Is(err, secrets.ErrNotFound) {
		return c.refuse(ctx, log, job, ReasonNoToken)
	}
	if err != nil {
		return fmt.Errorf("get access token of %s: %w", integ.ID, err)
	}

	downloadURL, graphMime, size, err := c.Graph.MediaURL(ctx, md.WhatsAppID, token)
	if err != nil {
		return c.graphFailure(ctx, log, job, err, false)
	}
	limit := Limit(msg.Type, animated(msg))
	if size > limit {
		return c.refuse(ctx, log, job, tooLarge(size, limit, msg.Type))
	}
	c.Counts.Downloads.Add(1)
	body, err := c.Graph.Download(ctx, downloadURL, token)
	if err != nil {
		return c.graphFailure(ctx, log, job, err, true)
	}
	if int64(len(body)) > limit {
		return c.refuse(ctx, log, job, tooLarge(int64(len(body)), limit, msg.Type))
	}
	if ok, checked := checksumMatches(md.SHA256, body); !ok {
		return c.refuse(ctx, log, job, ReasonChecksum)
	} else if !checked {
		log.WarnContext(ctx, "media checksum not in a known encoding; not verified", "sha256", md.SHA256)
	}

	contentType := firstNonEmpty(md.MimeType, graphMime, http.DetectContentType(body))
	key := BlobKey(job.Org, job.ConversationID, job.MessageID)
	if err := c.Blobs.Put(ctx, key, body, contentType); err != nil {
		return fmt.Errorf("keep media copy: %w", err)
	}
	err = c.Store.UpdateMessageMedia(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, func(m *inbox.Media) error {
		if m.BlobKey != "" {
			return errAlreadyCopied
		}
		m.BlobKey, m.Size, m.Error = key, int64(len(body)), ""
		if m.MimeType == "" {
			m.MimeType = contentType
		}
		return nil
	})
	if errors.Is(err, errAlreadyCopied) {
		c.Counts.Skipped.Add(1)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record media copy: %w", err)
	}
	c.Counts.Copied.Add(1)
	c.Counts.Bytes.Add(int64(len(body)))
	log.InfoContext(ctx, "media copied", "key", key, "bytes", len(body), "mimeType", contentType)
	return nil
}

var errAlreadyCopied = errors.New("media already copied")

// graphFailure sorts a failed Graph call. The media id lookup (MediaURL) is
// the authority on whether the media exists; a failed download is retried
// with a fresh URL unless WhatsApp is throttling us.
func (c *Copier) graphFailure(ctx context.Context, log *slog.Logger, job Job, err error, download bool) error {
	failure, ge := whatsapp.Classify(err)
	switch {
	case failure == whatsapp.Throttled:
		c.Counts.Throttled.Add(1)
		delay, ok := c.throttle().Next(job.Attempt)
		if !ok {
			return fmt.Errorf("still throttled after %d attempts: %w", job.Attempt, err)
		}
		log.InfoContext(ctx, "throttled by WhatsApp; trying later", "code", ge.Code, "delay", delay)
		job.Attempt++
		if err := c.Queue.Send(ctx, queue.Outgoing{Body: job.Encode(), Delay: delay}); err != nil {
			return fmt.Errorf("requeue media job: %w", err)
		}
		return nil
	case failure == whatsapp.NoAnswer || failure == whatsapp.Transient || download:
		return err // the queue retries (a download with a fresh URL)
	case failure == whatsapp.TokenRefused:
		return c.refuse(ctx, log, job, ReasonBadToken)
	case ge.Code == whatsapp.ErrCodeInvalidParameter || ge.Code == whatsapp.ErrCodeMediaDownload || ge.Status == http.StatusNotFound:
		// 100 "Object with ID ... does not exist": an expired or unknown media id.
		return c.refuse(ctx, log, job, ReasonExpired)
	default:
		return c.refuse(ctx, log, job, fmt.Sprintf(reasonRefusedFmt, ge.Plain()))
	}
}

// refuse records why no copy can be made, for good, and acknowledges the job.
func (c *Copier) refuse(ctx context.Context, log *slog.Logger, job Job, reason string) error {
	err := c.Store.UpdateMessageMedia(ctx, job.Org, job.ConversationID, job.Timestamp, job.MessageID, func(m *inbox.Media) error {
		if m.BlobKey != "" {
			return errAlreadyCopied // another delivery copied it meanwhile
		}
		m.Error = reason
		return nil
	})
	if errors.Is(err, errAlreadyCopied) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record media refusal: %w", err)
	}
	c.Counts.Refused.Add(1)
	log.WarnContext(ctx, "media not copied", "reason", reason, metric.MediaRefused.Attr())
	return nil
}

// checksumMatches compares body with the sha256 WhatsApp gave, in hex or
// base64 (both are seen). checked is false when there was nothing usable
// to compare with; ok is then true.
func checksumMatches(want string, body []byte) (ok, checked bool) {
	want = strings.TrimSpace(want)
	if want == "" {
		return true, false
	}
	sum := sha256.Sum256(body)
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	}
	for _, decode := range decoders {
		if b, err := decode(want); err == nil && len(b) == sha256.Size {
			return subtle.ConstantTimeCompare(b, sum[:]) == 1, true
		}
	}
	return true, false
}

// animated reports an animated sticker, from the message as WhatsApp sent it.
func animated(m *inbox.Message) bool {
	if m.Type != whatsapp.TypeSticker || len(m.Content) == 0 {
		return false
	}
	var c struct {
		Animated bool `json:"animated"`
		Sticker  struct {
			Animated bool `json:"animated"`
		} `json:"sticker"`
	}
	_ = json.Unmarshal(m.Content, &c) // unreadable content: the smaller limit
	return c.Animated || c.Sticker.Animated
}

func tooLarge(size, limit int64, msgType string) string {
	kind := msgType
	if kind == "" {
		kind = "files"
	} else {
		kind += "s"
	}
	return fmt.Sprintf(ReasonTooLargeFmt, humanBytes(size), humanBytes(limit), kind)
}

// humanBytes writes a size as people read it: "5 MB", "6.3 MB", "100 KB".
// It rounds up, so a file just over a limit never reads as the limit.
func humanBytes(n int64) string {
	unit := func(size float64, name string) string {
		s := strconv.FormatFloat(math.Ceil(size*10)/10, 'f', 1, 64)
		return strings.TrimSuffix(s, ".0") + " " + name
	}
	switch {
	case n >= 1<<20:
		return unit(float64(n)/(1<<20), "MB")
	case n >= 1<<10:
		return unit(float64(n)/(1<<10), "KB")
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *Copier) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

func (c *Copier) throttle() queue.Throttle { return c.Throttle.Or(DefaultThrottle) }
