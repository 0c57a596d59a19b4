package localstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/httpapi"
)

// Every bad-input sample (events/whatsapp/badinput) through the running
// stack's webhook: each is acknowledged (nothing for Meta to retry), what
// could be read comes out of the API as valid UTF-8, and each body that
// could not be stored in full is kept under malformed/ with its reasons.
func TestBadInputSamplesThroughTheStack(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Integration.PhoneNumberID = "106540352242922" // the number the samples are addressed to
	st := start(t, cfg)
	defer st.Close()

	files, err := filepath.Glob("../../events/whatsapp/badinput/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("samples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := postWebhook(t, st, b); got != http.StatusOK {
			t.Fatalf("%s: webhook answered %d", filepath.Base(f), got)
		}
	}
	// The samples share two wamids; the bodies with unreadable parts, refused
	// ids or the wrong object are kept.
	const keptBodies = 5
	kept := func() []httpapi.QuarantinedBody {
		var out []httpapi.QuarantinedBody
		paths, _ := filepath.Glob(filepath.Join(cfg.DataDir, "blobs", "malformed", "*", "*", "*", "*"))
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			_, doc, _ := bytes.Cut(raw, []byte("\n")) // the blob file's metadata line
			var q httpapi.QuarantinedBody
			if err := json.Unmarshal(doc, &q); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, q)
		}
		return out
	}
	seen := map[string]bool{}
	waitFor(t, "the readable messages and the kept bodies", func() bool {
		clear(seen)
		var list convList
		getJSON(t, st, "admin", "/conversations?limit=100", &list)
		for _, c := range list.Items {
			raw := getRaw(t, st, "/conversations/"+url.PathEscape(c.ID)+"/messages?limit=100")
			if !utf8.Valid(raw) {
				t.Fatalf("the API served invalid UTF-8: %q", raw)
			}
			var msgs struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			if err := json.Unmarshal(raw, &msgs); err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs.Items {
				seen[m.ID] = true
			}
		}
		return len(seen) == 2 && len(kept()) == keptBodies
	}, func() string { return fmt.Sprintf("messages %v, %d bodies kept", seen, len(kept())) })
	for _, q := range kept() {
		if q.Reason == "" || (q.Body == "" && len(q.BodyBase64) == 0) {
			t.Errorf("kept body without its reason or bytes: %+v", q)
		}
	}
}

func getRaw(t *testing.T, st *Stack, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", st.Info.APIURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+st.Info.Tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
