package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/media"
)

// The Attachments tab and the Messages tab show a copied file as a
// short-lived download URL that serves its bytes; where the copy is kept
// never shows.
func TestAttachmentDownloadURL(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	customerSends(t, h, h.Integ.PhoneNumberID, "15550001111", "Ana Díaz", "wamid.photo.1", map[string]any{"type": "image",
		"image": map[string]any{"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "81d3", "caption": "the receipt"}})
	if st := h.MediaJobs.Stats(); st.Visible+st.Delayed != 1 {
		t.Fatalf("media queue %+v, want one job", st)
	}
	var convs struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if got := h.do("u-sam", "GET", "/v1/conversations", nil, &convs); got != 200 || len(convs.Items) != 1 {
		t.Fatalf("conversations: %d %+v", got, convs)
	}
	conv := convs.Items[0].ID

	type mediaFields struct {
		Caption     string `json:"caption"`
		Size        int64  `json:"size"`
		Error       string `json:"error"`
		DownloadURL string `json:"downloadUrl"`
	}
	attachments := func() (mediaFields, string) {
		t.Helper()
		var raw json.RawMessage
		if got := h.do("u-sam", "GET", "/v1/conversations/"+conv+"/attachments", nil, &raw); got != 200 {
			t.Fatalf("attachments: %d %s", got, raw)
		}
		var page struct{ Items []mediaFields }
		if err := json.Unmarshal(raw, &page); err != nil || len(page.Items) != 1 {
			t.Fatalf("attachments %s: %v", raw, err)
		}
		return page.Items[0], string(raw)
	}
	messages := func() (mediaFields, string) {
		t.Helper()
		var raw json.RawMessage
		if got := h.do("u-sam", "GET", "/v1/conversations/"+conv+"/messages", nil, &raw); got != 200 {
			t.Fatalf("messages: %d %s", got, raw)
		}
		var page struct {
			Items []struct {
				Media *mediaFields `json:"media"`
			}
		}
		if err := json.Unmarshal(raw, &page); err != nil || len(page.Items) != 1 || page.Items[0].Media == nil {
			t.Fatalf("messages %s: %v", raw, err)
		}
		return *page.Items[0].Media, string(raw)
	}

	// Not copied yet: neither a URL nor an error.
	if got, _ := attachments(); got != (mediaFields{Caption: "the receipt"}) {
		t.Errorf("pending attachment %+v", got)
	}

	photo := bytes.Repeat([]byte("jpeg"), 256)
	key := media.BlobKey("acme", conv, "wamid.photo.1")
	if err := h.Blobs.Put(ctx, key, photo, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	err := h.App.Store.UpdateMessageMedia(ctx, "acme", conv, h.Now, "wamid.photo.1", func(m *inbox.Media) error {
		m.BlobKey, m.Size = key, int64(len(photo))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func() (mediaFields, string){"attachments": attachments, "messages": messages} {
		got, raw := list()
		if got.DownloadURL == "" || got.Size != int64(len(photo)) || got.Error != "" {
			t.Errorf("%s: %+v, want a download URL and the size", name, got)
			continue
		}
		if strings.Contains(raw, "blobKey") || strings.Contains(raw, `"media/acme/`) {
			t.Errorf("%s shows where the copy is kept: %s", name, raw)
		}
		resp, err := http.Get(got.DownloadURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, photo) || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("%s: GET download URL: %d %q, %d bytes; want the %d bytes of the photo", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(photo))
		}
		// The URL is signed: another key with the same signature is refused.
		forged := strings.Replace(got.DownloadURL, "wamid.photo.1", "wamid.photo.2", 1)
		resp, err = http.Get(forged)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("%s: a forged URL answered %s", name, resp.Status)
		}
	}

	// Another org's user cannot list them.
	if got := h.do("u-eve", "GET", "/v1/conversations/"+conv+"/attachments", nil, nil); got != 404 {
		t.Errorf("another org: %d, want 404", got)
	}
}
