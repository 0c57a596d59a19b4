package media

import (
	"bytes"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// An Upload is a file a CRM user attaches from their computer: declared
// (name, type, size), then put straight into the blob store with a
// presigned form, then checked and marked ready.
type Upload struct {
	Org         string    `json:"org"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	MessageType string    `json:"messageType"` // the WhatsApp message it goes as: image, video, audio, document, sticker
	Status      string    `json:"status"`      // UploadPending, then UploadReady
	BlobKey     string    `json:"blobKey"`     // set by storage when created; internal
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
	ReadyAt     time.Time `json:"readyAt,omitzero"`
}

// Upload statuses.
const (
	UploadPending = "pending"
	UploadReady   = "ready"
)

// UploadTTL is how long a presigned upload form stays valid.
const UploadTTL = 15 * time.Minute

// MaxNameBytes bounds a file name, as most file systems do.
const MaxNameBytes = 255

// acceptedTypes are the content types WhatsApp takes, and the message
// each goes as (image/webp only as a sticker).
var acceptedTypes = map[string]string{
	"image/jpeg": whatsapp.TypeImage,
	"image/png":  whatsapp.TypeImage,
	"video/mp4":  whatsapp.TypeVideo,
	"video/3gpp": whatsapp.TypeVideo,
	"audio/aac":  whatsapp.TypeAudio,
	"audio/amr":  whatsapp.TypeAudio,
	"audio/mpeg": whatsapp.TypeAudio,
	"audio/mp4":  whatsapp.TypeAudio,
	"audio/ogg":  whatsapp.TypeAudio,
	"image/webp": whatsapp.TypeSticker,

	"text/plain":         whatsapp.TypeDocument,
	"application/pdf":    whatsapp.TypeDocument,
	"application/msword": whatsapp.TypeDocument,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": whatsapp.TypeDocument,
	"application/vnd.ms-excel": whatsapp.TypeDocument,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         whatsapp.TypeDocument,
	"application/vnd.ms-powerpoint":                                             whatsapp.TypeDocument,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": whatsapp.TypeDocument,
}

// MessageTypeOf returns the WhatsApp message a file of contentType goes
// as, or "" when WhatsApp does not take it.
func MessageTypeOf(contentType string) string {
	return acceptedTypes[contentType]
}

// UploadLimit is the largest file of contentType WhatsApp takes (the
// animated sticker limit for WebP: whether it is animated shows only in
// its bytes, which CheckStored reads).
func UploadLimit(contentType string) int64 {
	msgType := MessageTypeOf(contentType)
	return Limit(msgType, msgType == whatsapp.TypeSticker)
}

// NewUpload checks a declared file and returns it pending: a name that
// can be shown and sent, a type WhatsApp takes, and a size within its
// limit. Parameters on the type (";charset=...") are not accepted: the
// presigned form demands the exact type.
func NewUpload(org, id, user, name, contentType string, size int64, now time.Time) (*Upload, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name):
		return nil, apperr.E(apperr.Invalid, "name must be a file name of 1 to %d bytes of UTF-8.", MaxNameBytes)
	case strings.ContainsAny(name, `/\`) || strings.ContainsFunc(name, unicode.IsControl):
		return nil, apperr.E(apperr.Invalid, "name %q must be a file name without slashes or control characters.", name)
	}
	msgType := MessageTypeOf(contentType)
	if msgType == "" {
		return nil, apperr.E(apperr.FileTypeUnsupported, "%s: WhatsApp does not take files of type %q; it takes JPEG and PNG images, MP4 and 3GP video, AAC, AMR, MP3, M4A and OGG audio, WebP stickers, and PDF, text and Office documents.", name, contentType)
	}
	if size < 1 {
		return nil, apperr.E(apperr.Invalid, "%s: size must be the file's size in bytes, at least 1.", name)
	}
	if limit := UploadLimit(contentType); size > limit {
		return nil, apperr.E(apperr.FileTooLarge, "%s is %s, over WhatsApp's %s limit for %ss.", name, humanBytes(size), humanBytes(limit), msgType)
	}
	return &Upload{
		Org: org, ID: id, Name: name, ContentType: contentType, Size: size,
		MessageType: msgType, Status: UploadPending, CreatedBy: user, CreatedAt: now.UTC(),
	}, nil
}

// SniffBytes is how much of a stored file CheckStored needs.
const SniffBytes = 512

// CheckStored checks what was stored for u: exactly the declared size,
// bytes of the declared type (sniffed from head, the file's first
// SniffBytes or all of it when shorter), and a static WebP sticker within
// 100 KB. A file that fails is refused for good: the user uploads again.
func (u *Upload) CheckStored(size int64, head []byte) error {
	if size != u.Size {
		return apperr.E(apperr.FileContentMismatch, "%s: %s were uploaded, but %s were declared; upload the file again.", u.Name, humanBytes(size), humanBytes(u.Size))
	}
	if !bytesAre(u.ContentType, head) {
		return apperr.E(apperr.FileContentMismatch, "%s is not a %s file: its bytes look like %s. It was not kept.", u.Name, u.ContentType, http.DetectContentType(head))
	}
	if u.MessageType == whatsapp.TypeSticker && !animatedWebP(head) && size > MaxStickerBytes {
		return apperr.E(apperr.FileTooLarge, "%s is %s, over WhatsApp's %s limit for static stickers.", u.Name, humanBytes(size), humanBytes(MaxStickerBytes))
	}
	return nil
}

// bytesAre reports whether head starts a file of contentType. The
// standard sniffer knows most types; the ones it does not (AMR, AAC, MP3
// without a tag, 3GP and M4A containers, Office files) are told by their
// own signatures.
func bytesAre(contentType string, head []byte) bool {
	sniffed, _, _ := strings.Cut(http.DetectContentType(head), ";")
	isoMedia := len(head) >= 8 && string(head[4:8]) == "ftyp"
	switch contentType {
	case "image/jpeg", "image/png", "image/webp", "application/pdf":
		return sniffed == contentType
	case "video/mp4":
		return sniffed == "video/mp4" || isoMedia
	case "video/3gpp", "audio/mp4":
		return isoMedia
	case "audio/mpeg":
		return sniffed == "audio/mpeg" || mpegFrame(head)
	case "audio/aac":
		return len(head) >= 2 && head[0] == 0xff && head[1]&0xf6 == 0xf0 // ADTS
	case "audio/amr":
		return bytes.HasPrefix(head, []byte("#!AMR"))
	case "audio/ogg":
		return sniffed == "application/ogg"
	case "text/plain":
		return sniffed == "text/plain"
	case "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint":
		return bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")) // OLE compound file
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation":
		return sniffed == "application/zip"
	}
	return false
}

// mpegFrame reports an MPEG audio frame header (an MP3 without an ID3 tag).
func mpegFrame(head []byte) bool {
	return len(head) >= 2 && head[0] == 0xff && head[1]&0xe0 == 0xe0 && head[1]&0x06 != 0
}

// animatedWebP reports a WebP whose extended header sets the animation flag.
func animatedWebP(head []byte) bool {
	return len(head) >= 21 && string(head[12:16]) == "VP8X" && head[20]&0x02 != 0
}

// Inline reports whether a browser may show a file of contentType in the
// page (preview): images, PDF, audio and video. Anything else, HTML and
// script above all, is only ever served as a download.
func Inline(contentType string) bool {
	t, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	switch {
	case t == "image/svg+xml": // an image that runs script
		return false
	case t == "application/pdf", strings.HasPrefix(t, "image/"), strings.HasPrefix(t, "audio/"), strings.HasPrefix(t, "video/"):
		return true
	}
	return false
}
