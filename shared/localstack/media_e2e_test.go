package localstack_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/localstack"
)

// TestInboundMediaEndToEnd: a customer sends a photo through Meta's
// stand-in; the stack copies it at once, and the Attachments tab soon
// offers a download URL that serves the very bytes the simulator served.
func TestInboundMediaEndToEnd(t *testing.T) {
	cfg, err := localstack.LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	user := st.Info.Tokens["user"]

	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 5), B: 160, A: 255})
		}
	}
	var photo bytes.Buffer
	if err := png.Encode(&photo, img); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		ID      string `json:"id"`
		MediaID string `json:"mediaId"`
		Status  int    `json:"status"`
	}
	if got := call(t, "POST", st.Info.SimulatorURL+"/_sim/send", "", map[string]any{
		"phoneNumberId": st.Info.PhoneNumberID, "from": "15557654321", "name": "Ana Díaz",
		"type": "image", "mimeType": "image/png", "media": photo.Bytes(), "caption": "¿Tienen este modelo?",
	}, &sent); got != http.StatusOK || sent.Status != http.StatusOK || sent.MediaID == "" {
		t.Fatalf("customer send: %d %+v", got, sent)
	}
	served, _, ok := st.Sim.Media(sent.MediaID)
	if !ok || !bytes.Equal(served, photo.Bytes()) {
		t.Fatalf("the simulator does not hold the photo it was given")
	}

	var convs struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	eventually(t, "the conversation", func() bool {
		return call(t, "GET", st.Info.APIURL+"/conversations", user, nil, &convs) == http.StatusOK && len(convs.Items) == 1
	})
	type attachment struct {
		MessageID   string `json:"messageId"`
		Type        string `json:"type"`
		MimeType    string `json:"mimeType"`
		Caption     string `json:"caption"`
		Size        int64  `json:"size"`
		Error       string `json:"error"`
		DownloadURL string `json:"downloadUrl"`
	}
	var atts struct {
		Items []attachment `json:"items"`
	}
	eventually(t, "a download URL in the Attachments tab", func() bool {
		call(t, "GET", st.Info.APIURL+"/conversations/"+convs.Items[0].ID+"/attachments", user, nil, &atts)
		return len(atts.Items) == 1 && (atts.Items[0].DownloadURL != "" || atts.Items[0].Error != "")
	})
	got := atts.Items[0]
	if got.Error != "" || got.MessageID != sent.ID || got.Type != "image" || got.MimeType != "image/png" ||
		got.Size != int64(photo.Len()) || got.Caption != "¿Tienen este modelo?" {
		t.Fatalf("attachment %+v, want the %d-byte photo of message %s", got, photo.Len(), sent.ID)
	}
	if !strings.HasPrefix(got.DownloadURL, st.Info.SimulatorURL+"/blobs/") {
		t.Errorf("download URL %s, want it served by the stack under /blobs/", got.DownloadURL)
	}

	resp, err := http.Get(got.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, served) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("GET download URL: %d %q, %d bytes; want the %d bytes the simulator served", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(served))
	}

	var queues map[string]struct {
		Visible, Delayed, InFlight, Dead int
	}
	if code := call(t, "GET", st.Info.SimulatorURL+"/debug/queues", "", nil, &queues); code != http.StatusOK {
		t.Fatalf("debug/queues: %d", code)
	}
	if q := queues["mediaDLQ"]; q.Visible+q.Delayed+q.InFlight != 0 {
		t.Errorf("media dead-letter queue %+v, want empty", q)
	}
}
