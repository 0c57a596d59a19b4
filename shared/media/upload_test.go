package media

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

func TestNewUpload(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, file, contentType string
		size                    int64
		wantCode                apperr.Code
		wantMsgType             string
	}{
		{"png", "photo.png", "image/png", 1 << 20, "", "image"},
		{"png at the limit", "photo.png", "image/png", MaxImageBytes, "", "image"},
		{"a 6 MB png", "big.png", "image/png", 6 << 20, apperr.FileTooLarge, ""},
		{"pdf", "quote.pdf", "application/pdf", 20 << 20, "", "document"},
		{"pdf over 100 MB", "huge.pdf", "application/pdf", 101 << 20, apperr.FileTooLarge, ""},
		{"mp4", "clip.mp4", "video/mp4", 16 << 20, "", "video"},
		{"mp4 over 16 MB", "clip.mp4", "video/mp4", 16<<20 + 1, apperr.FileTooLarge, ""},
		{"ogg audio", "note.ogg", "audio/ogg", 1000, "", "audio"},
		{"webp sticker", "s.webp", "image/webp", 400 << 10, "", "sticker"},
		{"webp over 500 KB", "s.webp", "image/webp", 501 << 10, apperr.FileTooLarge, ""},
		{"html", "page.html", "text/html", 10, apperr.FileTypeUnsupported, ""},
		{"executable", "setup.exe", "application/x-msdownload", 10, apperr.FileTypeUnsupported, ""},
		{"gif", "a.gif", "image/gif", 10, apperr.FileTypeUnsupported, ""},
		{"type with parameters", "a.txt", "text/plain; charset=utf-8", 10, apperr.FileTypeUnsupported, ""},
		{"empty", "a.png", "image/png", 0, apperr.Invalid, ""},
		{"no name", " ", "image/png", 10, apperr.Invalid, ""},
		{"path in name", "../etc/passwd.png", "image/png", 10, apperr.Invalid, ""},
		{"control char in name", "a\x00.png", "image/png", 10, apperr.Invalid, ""},
		{"long name", strings.Repeat("a", 256) + ".png", "image/png", 10, apperr.Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := NewUpload("org_1", "att1", "u1", tt.file, tt.contentType, tt.size, now)
			if tt.wantCode != "" {
				if !apperr.Is(err, tt.wantCode) {
					t.Fatalf("NewUpload error = %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.MessageType != tt.wantMsgType || u.Status != UploadPending || u.Org != "org_1" {
				t.Errorf("upload = %+v, want a pending %s", u, tt.wantMsgType)
			}
		})
	}
}

func TestSixMegabytePNGNamesItsLimit(t *testing.T) {
	_, err := NewUpload("org_1", "a", "u", "big.png", "image/png", 6<<20, time.Now())
	var ae *apperr.Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "big.png is 6 MB, over WhatsApp's 5 MB limit for images") {
		t.Errorf("error = %v", err)
	}
}

func TestCheckStored(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 56)...)
	pdf := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	mp4 := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	threeGP := []byte("\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x003gp4")
	webpStatic := []byte("RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00")
	webpAnimated := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00")
	html := []byte("<!DOCTYPE html><script>alert(1)</script>")
	tests := []struct {
		name, contentType string
		head              []byte
		size              int64 // declared and stored; 0: len(head)
		storedSize        int64 // when it differs
		wantCode          apperr.Code
	}{
		{"png", "image/png", png, 0, 0, ""},
		{"jpeg", "image/jpeg", jpeg, 0, 0, ""},
		{"an executable named .jpg", "image/jpeg", exe, 0, 0, apperr.FileContentMismatch},
		{"a png declared jpeg", "image/jpeg", png, 0, 0, apperr.FileContentMismatch},
		{"html declared as text", "text/plain", html, 0, 0, apperr.FileContentMismatch},
		{"html declared as pdf", "application/pdf", html, 0, 0, apperr.FileContentMismatch},
		{"pdf", "application/pdf", pdf, 0, 0, ""},
		{"text", "text/plain", []byte("hello, quote attached\n"), 0, 0, ""},
		{"mp4", "video/mp4", mp4, 0, 0, ""},
		{"3gp", "video/3gpp", threeGP, 0, 0, ""},
		{"m4a", "audio/mp4", mp4, 0, 0, ""},
		{"amr", "audio/amr", []byte("#!AMR\n\x3c"), 0, 0, ""},
		{"aac", "audio/aac", []byte("\xff\xf1\x50\x80"), 0, 0, ""},
		{"mp3 with a tag", "audio/mpeg", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), 0, 0, ""},
		{"mp3 frame", "audio/mpeg", []byte("\xff\xfb\x90\x64\x00"), 0, 0, ""},
		{"ogg", "audio/ogg", []byte("OggS\x00\x02\x00\x00"), 0, 0, ""},
		{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK\x03\x04\x14\x00"), 0, 0, ""},
		{"doc", "application/msword", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00"), 0, 0, ""},
		{"static sticker within 100 KB", "image/webp", webpStatic, 100 << 10, 0, ""},
		{"static sticker over 100 KB", "image/webp", webpStatic, 200 << 10, 0, apperr.FileTooLarge},
		{"animated sticker over 100 KB", "image/webp", webpAnimated, 400 << 10, 0, ""},
		{"smaller than declared", "image/png", png, 100, 99, apperr.FileContentMismatch},
		{"larger than declared", "image/png", png, 100, 101, apperr.FileContentMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.head))
			}
			u, err := NewUpload("org_1", "a", "u", "file", tt.contentType, size, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			stored := size
			if tt.storedSize != 0 {
				stored = tt.storedSize
			}
			err = u.CheckStored(stored, tt.head)
			if tt.wantCode == "" && err != nil {
				t.Fatalf("CheckStored: %v", err)
			}
			if tt.wantCode != "" && !apperr.Is(err, tt.wantCode) {
				t.Fatalf("CheckStored error = %v, want %s", err, tt.wantCode)
			}
		})
	}
}

func TestInline(t *testing.T) {
	for ct, want := range map[string]bool{
		"image/png": true, "image/jpeg": true, "application/pdf": true, "audio/ogg": true, "video/mp4": true,
		"Image/PNG; x=1": true,
		"text/html":      false, "text/html; charset=utf-8": false, "application/javascript": false,
		"text/javascript": false, "image/svg+xml": false, "application/xhtml+xml": false,
		"text/plain": false, "application/octet-stream": false, "": false,
	} {
		if got := Inline(ct); got != want {
			t.Errorf("Inline(%q) = %v, want %v", ct, got, want)
		}
	}
}
