package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/blob/blobtest"
)

var testPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")

type uploadResponse struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	MessageType string `json:"messageType"`
	Status      string `json:"status"`
	PreviewURL  string `json:"previewUrl"`
	DownloadURL string `json:"downloadUrl"`
	Upload      struct {
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	} `json:"upload"`
}

// declare posts a file's name, type and size and returns the answer.
func declare(t *testing.T, h *harness, user, name, contentType string, size int) uploadResponse {
	t.Helper()
	var u uploadResponse
	if s := h.do(user, "POST", "/v1/attachments", map[string]any{"name": name, "contentType": contentType, "size": size}, &u); s != http.StatusCreated {
		t.Fatalf("declare %s: %d %+v", name, s, u)
	}
	if u.Status != "pending" || u.Upload.URL == "" || u.DownloadURL != "" {
		t.Fatalf("declared %s: %+v, want pending with a form and no download", name, u)
	}
	return u
}

// uploadFile declares, uploads with the form and completes one file.
func uploadFile(t *testing.T, h *harness, user, name, contentType string, body []byte) uploadResponse {
	t.Helper()
	u := declare(t, h, user, name, contentType, len(body))
	post := blob.PresignedPost{URL: u.Upload.URL, Fields: u.Upload.Fields}
	if s, resp := blobtest.PostForm(t, post, nil, body); s/100 != 2 {
		t.Fatalf("upload %s: %d %s", name, s, resp)
	}
	var done uploadResponse
	if s := h.do(user, "POST", "/v1/attachments/"+u.ID+"/complete", nil, &done); s != http.StatusOK || done.Status != "ready" {
		t.Fatalf("complete %s: %d %+v", name, s, done)
	}
	return done
}

func TestUploadFromTheComputer(t *testing.T) {
	h := newHarness(t, nil)
	done := uploadFile(t, h, "u-sam", "Quote 7 – ñ.png", "image/png", testPNG)
	if done.MessageType != "image" || done.Size != int64(len(testPNG)) || done.PreviewURL == "" || done.DownloadURL == "" {
		t.Fatalf("completed upload %+v", done)
	}
	if strings.Contains(done.DownloadURL, "acme") || !strings.Contains(done.Upload.URL+done.DownloadURL, "/blobs/") {
		t.Logf("download URL %s", done.DownloadURL)
	}

	status, body, header := blobtest.Do(t, "GET", done.DownloadURL, nil, "")
	if status != http.StatusOK || !bytes.Equal(body, testPNG) {
		t.Fatalf("download: %d, %d bytes", status, len(body))
	}
	if cd := header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=utf-8''Quote%207%20%E2%80%93%20%C3%B1.png") {
		t.Errorf("download Content-Disposition = %q, want attachment with the file's name", cd)
	}
	status, body, header = blobtest.Do(t, "GET", done.PreviewURL, nil, "")
	if status != http.StatusOK || !bytes.Equal(body, testPNG) || header.Get("Content-Disposition") != "inline" || header.Get("Content-Type") != "image/png" {
		t.Errorf("preview: %d, Content-Disposition %q, Content-Type %q", status, header.Get("Content-Disposition"), header.Get("Content-Type"))
	}

	var got uploadResponse
	if s := h.do("u-lee", "GET", "/v1/attachments/"+done.ID, nil, &got); s != http.StatusOK || got.Status != "ready" || got.Name != "Quote 7 – ñ.png" || got.DownloadURL == "" {
		t.Errorf("GET by a colleague: %d %+v", s, got)
	}
	// Completing again is harmless.
	if s := h.do("u-sam", "POST", "/v1/attachments/"+done.ID+"/complete", nil, &got); s != http.StatusOK || got.Status != "ready" {
		t.Errorf("second complete: %d %+v", s, got)
	}
}

func TestUploadOfADocumentHasNoPreview(t *testing.T) {
	h := newHarness(t, nil)
	done := uploadFile(t, h, "u-sam", "notes.txt", "text/plain", []byte("call back on Monday\n"))
	if done.MessageType != "document" || done.PreviewURL != "" || done.DownloadURL == "" {
		t.Errorf("text upload %+v: want a download and no inline preview", done)
	}
}

func TestUploadRefusals(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		name        string
		body        map[string]any
		status      int
		code, words string
	}{
		{"a 6 MB png", map[string]any{"name": "big.png", "contentType": "image/png", "size": 6 << 20}, 422, "file_too_large", "big.png is 6 MB, over WhatsApp's 5 MB limit for images"},
		{"html", map[string]any{"name": "x.html", "contentType": "text/html", "size": 10}, 422, "file_type_unsupported", "text/html"},
		{"an executable", map[string]any{"name": "setup.exe", "contentType": "application/x-msdownload", "size": 10}, 422, "file_type_unsupported", "setup.exe"},
		{"no size", map[string]any{"name": "a.png", "contentType": "image/png"}, 400, "invalid", "size"},
		{"a path for a name", map[string]any{"name": "../a.png", "contentType": "image/png", "size": 10}, 400, "invalid", "slashes"},
		{"an unknown field", map[string]any{"name": "a.png", "contentType": "image/png", "size": 10, "key": "attachments/other/x"}, 400, "invalid", "key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if s := h.do("u-sam", "POST", "/v1/attachments", tt.body, &e); s != tt.status || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.words) {
				t.Errorf("%d %+v, want %d %s mentioning %q", s, e, tt.status, tt.code, tt.words)
			}
		})
	}

	t.Run("an executable named .jpg", func(t *testing.T) {
		exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), bytes.Repeat([]byte{0}, 100)...)
		u := declare(t, h, "u-sam", "photo.jpg", "image/jpeg", len(exe))
		if s, resp := blobtest.PostForm(t, blob.PresignedPost{URL: u.Upload.URL, Fields: u.Upload.Fields}, nil, exe); s/100 != 2 {
			t.Fatalf("upload: %d %s", s, resp)
		}
		var e apiError
		if s := h.do("u-sam", "POST", "/v1/attachments/"+u.ID+"/complete", nil, &e); s != 422 || e.Error.Code != "file_content_mismatch" || !strings.Contains(e.Error.Message, "photo.jpg is not a image/jpeg file") {
			t.Fatalf("complete: %d %+v, want 422 file_content_mismatch", s, e)
		}
		if _, _, err := h.Blobs.Get(context.Background(), u.Upload.Fields["key"]); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("the refused file is still stored: %v", err)
		}
		var got uploadResponse
		if s := h.do("u-sam", "GET", "/v1/attachments/"+u.ID, nil, &got); s != 200 || got.Status != "pending" || got.DownloadURL != "" || got.PreviewURL != "" {
			t.Errorf("after the refusal: %d %+v, want pending without URLs", s, got)
		}
	})

	t.Run("a bigger file than declared", func(t *testing.T) {
		u := declare(t, h, "u-sam", "small.png", "image/png", len(testPNG))
		big := append(append([]byte(nil), testPNG...), make([]byte, 6<<20)...)
		if s, _ := blobtest.PostForm(t, blob.PresignedPost{URL: u.Upload.URL, Fields: u.Upload.Fields}, nil, big); s/100 == 2 {
			t.Fatalf("the form took %d bytes for a declared %d", len(big), len(testPNG))
		}
		var e apiError
		if s := h.do("u-sam", "POST", "/v1/attachments/"+u.ID+"/complete", nil, &e); s != 409 || e.Error.Code != "conflict" {
			t.Errorf("complete without a file: %d %+v, want 409 conflict", s, e)
		}
	})

	t.Run("the form under another key or type", func(t *testing.T) {
		u := declare(t, h, "u-sam", "a.png", "image/png", len(testPNG))
		post := blob.PresignedPost{URL: u.Upload.URL, Fields: u.Upload.Fields}
		for _, o := range []map[string]string{{"key": "attachments/other/x"}, {"Content-Type": "text/html"}} {
			if s, _ := blobtest.PostForm(t, post, o, testPNG); s != http.StatusForbidden {
				t.Errorf("form with %v: %d, want 403", o, s)
			}
		}
	})
}
