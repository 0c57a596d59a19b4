package metasim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// MediaURLTTL is how long a media download URL works, as on Meta.
const MediaURLTTL = 5 * time.Minute

// maxUpload bounds an upload body: 100 MB documents plus multipart overhead.
const maxUpload = 101 << 20

type mediaObject struct {
	id, owner, mimeType, filename string
	body                          []byte
}

// Media returns the content and MIME type of media the simulator holds
// (uploaded by the business or sent by a customer).
func (s *Sim) Media(id string) (body []byte, mimeType string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.media[id]
	if m == nil {
		return nil, "", false
	}
	return m.body, m.mimeType, true
}

func (s *Sim) putMedia(owner, mimeType, filename string, body []byte) *mediaObject {
	m := &mediaObject{id: newMediaID(), owner: owner, mimeType: mimeType, filename: filename, body: body}
	s.mu.Lock()
	s.media[m.id] = m
	s.mu.Unlock()
	return m
}

// storeInboundMedia keeps a customer's media (or a placeholder) and returns
// the webhook's media object for it.
func (s *Sim) storeInboundMedia(phoneNumberID string, in Inbound) *whatsapp.Media {
	mimeType, body := in.MimeType, in.Media
	if len(body) == 0 {
		var defMime string
		defMime, body = placeholderMedia(in.Type, in.Voice)
		if mimeType == "" {
			mimeType = defMime
		}
	}
	if mimeType == "" {
		mimeType = http.DetectContentType(body)
	}
	filename := in.Filename
	if in.Type == whatsapp.TypeDocument && filename == "" {
		filename = "document." + mediaExt(mimeType)
	}
	m := s.putMedia(phoneNumberID, mimeType, filename, body)
	md := &whatsapp.Media{ID: m.id, MimeType: mimeType, SHA256: sha256Hex(body)}
	switch in.Type {
	case whatsapp.TypeImage, whatsapp.TypeVideo:
		md.Caption = in.Caption
	case whatsapp.TypeDocument:
		md.Caption, md.Filename = in.Caption, filename
	case whatsapp.TypeAudio:
		md.Voice = in.Voice
	case whatsapp.TypeSticker:
		md.Animated = in.Animated
	}
	return md
}

// placeholderMedia returns small stand-in content for a media type. The
// image is a real JPEG and the document a real PDF; the others only start
// with their format's magic bytes.
func placeholderMedia(typ string, voice bool) (mimeType string, body []byte) {
	switch typ {
	case whatsapp.TypeImage:
		img := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for x := 0; x < 8; x++ {
			for y := 0; y < 8; y++ {
				img.Set(x, y, color.RGBA{R: 37, G: 211, B: 102, A: 255}) // WhatsApp green
			}
		}
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, img, nil)
		return "image/jpeg", buf.Bytes()
	case whatsapp.TypeVideo:
		return "video/mp4", []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	case whatsapp.TypeAudio:
		if voice {
			return "audio/ogg; codecs=opus", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead")
		}
		return "audio/mpeg", []byte("ID3\x04\x00\x00\x00\x00\x00\x00")
	case whatsapp.TypeDocument:
		return "application/pdf", []byte(samplePDF)
	case whatsapp.TypeSticker:
		return "image/webp", []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	}
	return "application/octet-stream", []byte("media")
}

const samplePDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

func (s *Sim) handleUpload(w http.ResponseWriter, r *http.Request) {
	pnid := r.PathValue("phoneNumberID")
	if !s.authorize(w, r, pnid) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		invalidParam(w, "The request must be multipart/form-data with a file: "+err.Error())
		return
	}
	defer r.MultipartForm.RemoveAll()
	if r.FormValue("messaging_product") != "whatsapp" {
		invalidParam(w, "The parameter messaging_product is required and must be whatsapp.")
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		invalidParam(w, "The parameter file is required.")
		return
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		invalidParam(w, "could not read the file")
		return
	}
	mimeType := r.FormValue("type")
	if mimeType == "" {
		mimeType = fh.Header.Get("Content-Type")
	}
	if _, _, err := mime.ParseMediaType(mimeType); err != nil {
		invalidParam(w, "The parameter type must be the file's MIME type.")
		return
	}
	m := s.putMedia(pnid, mimeType, fh.Filename, body)
	writeJSON(w, http.StatusOK, map[string]string{"id": m.id})
}

func (s *Sim) handleMediaInfo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return
	}
	s.mu.Lock()
	m := s.media[id]
	s.mu.Unlock()
	if m == nil || !g.number(s.numbers[m.owner]) {
		noSuchObject(w, id)
		return
	}
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	exp := s.now().Add(MediaURLTTL).Unix()
	u := fmt.Sprintf("%s/_sim/media/%s?mid=%s&ext=%d&hash=%s", strings.TrimRight(base, "/"), m.id, m.id, exp, s.mediaHash(m.id, exp))
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"url":               u,
		"mime_type":         m.mimeType,
		"sha256":            sha256Hex(m.body),
		"file_size":         len(m.body),
		"id":                m.id,
	})
}

func (s *Sim) mediaHash(id string, exp int64) string {
	mac := hmac.New(sha256.New, []byte("metasim-media|"+s.cfg.AppSecret))
	fmt.Fprintf(mac, "%s|%d", id, exp)
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

func (s *Sim) handleDownload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("mediaID")
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("ext"), 10, 64)
	if err != nil || !hmac.Equal([]byte(q.Get("hash")), []byte(s.mediaHash(id, exp))) || s.now().Unix() > exp {
		http.Error(w, "URL signature mismatch or expired", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	m := s.media[id]
	s.mu.Unlock()
	if m == nil || !g.number(s.numbers[m.owner]) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
	_, _ = w.Write(m.body)
}
