package localstack

import (
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// samplesNumber is the phone number id most samples in events/whatsapp are addressed to.
const samplesNumber = "106540352242922"

// Every sample body in events/whatsapp, written from Meta's documented
// format, posted twice each in shuffled order through the running stack's
// webhook: each message for the seeded number comes out of the API exactly
// once, in time order; the other number's messages are dropped.
func TestSampleWebhooksThroughTheStack(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Integration.PhoneNumberID = samplesNumber
	st := start(t, cfg)
	defer st.Close()

	files, err := filepath.Glob("../../events/whatsapp/*.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("samples: %v (%d files)", err, len(files))
	}
	want := map[string]bool{} // wamids of messages to the seeded number
	var bodies [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := whatsapp.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				if c.Value.Metadata.PhoneNumberID != samplesNumber {
					continue
				}
				for _, m := range c.Value.Messages {
					want[m.ID] = true
				}
			}
		}
		bodies = append(bodies, b, b)
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	for _, b := range bodies {
		if got := postWebhook(t, st, b); got != 200 {
			t.Fatalf("webhook answered %d", got)
		}
	}

	type message struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Text      string `json:"text"`
		Timestamp string `json:"timestamp"`
	}
	got := map[string]int{}
	var texts []string
	waitFor(t, "every sample message", func() bool {
		clear(got)
		texts = texts[:0]
		var list struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		getJSON(t, st, "admin", "/conversations?limit=100", &list)
		for _, c := range list.Items {
			var msgs struct {
				Items []message `json:"items"`
			}
			getJSON(t, st, "admin", "/conversations/"+url.PathEscape(c.ID)+"/messages?limit=200", &msgs)
			for i, m := range msgs.Items {
				got[m.ID]++
				texts = append(texts, m.Text)
				if i > 0 && m.Timestamp < msgs.Items[i-1].Timestamp {
					t.Errorf("conversation %s: messages out of order", c.ID)
				}
			}
		}
		return len(got) >= len(want)
	})
	t.Logf("%d bodies posted (each twice), %d messages to the seeded number, %d came out", len(bodies)/2, len(want), len(got))
	for id := range want {
		if got[id] != 1 {
			t.Errorf("message %s came out %d times, want once", id, got[id])
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("message %s came out but was not sent to the seeded number", id)
		}
	}
	joined := strings.Join(texts, "\n")
	for _, s := range []string{"hola 👋 ¿qué tal? café ☕", "oi! vi o anúncio de vocês"} {
		if !strings.Contains(joined, s) {
			t.Errorf("decoded text %q not found", s)
		}
	}
}
