// Package media keeps what customers send. WhatsApp's media ids expire
// after 7 days and a download URL lasts 5 minutes, so inbound media is
// copied into our blob store as soon as its message arrives: intake puts a
// Job on the media queue (Enqueuer) and Copier consumes it, downloading
// through the Graph API and recording the copy on the message and its
// attachment.
package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Job is one media queue message: which stored message's media to copy.
// The message's timestamp is part of its key, so it travels with the id.
type Job struct {
	Org             string    `json:"org"`
	ConversationID  string    `json:"conversationId"`
	MessageID       string    `json:"messageId"`
	Timestamp       time.Time `json:"timestamp"`
	WhatsAppMediaID string    `json:"whatsappMediaId"`
	MimeType        string    `json:"mimeType,omitempty"`
	Type            string    `json:"type"` // image, video, audio, document, sticker
	// Attempt counts tries refused for throttling, from 1; queue
	// redeliveries do not count.
	Attempt int `json:"attempt"`
}

// JobFor returns the job that copies m's media.
func JobFor(m *inbox.Message) (Job, error) {
	if m.Media == nil || m.Media.WhatsAppID == "" {
		return Job{}, fmt.Errorf("message %s has no media to copy", m.ID)
	}
	return Job{
		Org: m.Org, ConversationID: m.ConversationID, MessageID: m.ID, Timestamp: m.Timestamp,
		WhatsAppMediaID: m.Media.WhatsAppID, MimeType: m.Media.MimeType, Type: m.Type, Attempt: 1,
	}, nil
}

// Encode returns the job's queue body.
func (j Job) Encode() []byte {
	b, _ := json.Marshal(j) // strings, a time and an int always encode
	return b
}

// DecodeJob parses a queue body.
func DecodeJob(body []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(body, &j); err != nil {
		return j, fmt.Errorf("decode media job: %w", err)
	}
	if j.Org == "" || j.ConversationID == "" || j.MessageID == "" || j.Timestamp.IsZero() || j.WhatsAppMediaID == "" {
		return j, errors.New("decode media job: org, conversationId, messageId, timestamp and whatsappMediaId are required")
	}
	if j.Attempt < 1 {
		j.Attempt = 1
	}
	return j, nil
}

// Size limits of WhatsApp media by message type, as Meta documents them
// (image JPEG/PNG 5 MB; video MP4/3GP 16 MB; audio AAC/AMR/MP3/M4A/OGG 16 MB;
// document 100 MB; sticker WebP 100 KB, 500 KB animated). Megabytes are
// read as MiB: the limits guard our storage, and must never refuse a file
// WhatsApp itself accepted.
const (
	MaxImageBytes           = 5 << 20
	MaxVideoBytes           = 16 << 20
	MaxAudioBytes           = 16 << 20
	MaxDocumentBytes        = 100 << 20
	MaxStickerBytes         = 100 << 10
	MaxAnimatedStickerBytes = 500 << 10
)

// Limit is the largest file kept for a message type; a type WhatsApp has
// not documented gets the largest limit.
func Limit(msgType string, animated bool) int64 {
	switch msgType {
	case whatsapp.TypeImage:
		return MaxImageBytes
	case whatsapp.TypeVideo:
		return MaxVideoBytes
	case whatsapp.TypeAudio:
		return MaxAudioBytes
	case whatsapp.TypeSticker:
		if animated {
			return MaxAnimatedStickerBytes
		}
		return MaxStickerBytes
	}
	return MaxDocumentBytes
}

// BlobKey is where a message's media is kept:
// media/<org>/<conversationId>/<messageId>, each part path-escaped, because
// wamids are base64 and may hold '/'.
func BlobKey(org, conversationID, messageID string) string {
	return "media/" + url.PathEscape(org) + "/" + url.PathEscape(conversationID) + "/" + url.PathEscape(messageID)
}

// DefaultEnqueueDelay holds a new job back briefly: intake enqueues it just
// before saving the message, and a job that arrived first would wait out a
// whole visibility timeout before its retry.
const DefaultEnqueueDelay = 2 * time.Second

// Enqueuer puts media jobs on the media queue; it implements
// inbox.MediaQueue.
type Enqueuer struct {
	Queue queue.Sender
	Delay time.Duration // see DefaultEnqueueDelay
}

// EnqueueMedia sends the job that copies m's media.
func (e *Enqueuer) EnqueueMedia(ctx context.Context, m *inbox.Message) error {
	job, err := JobFor(m)
	if err != nil {
		return err
	}
	if err := e.Queue.Send(ctx, queue.Outgoing{Body: job.Encode(), Delay: e.Delay}); err != nil {
		return fmt.Errorf("send media job for %s: %w", m.ID, err)
	}
	return nil
}
