package whatsapp

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (go test reads them as regular
// test cases); the sample events are added too.

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	bad, _ := filepath.Glob(filepath.Join(badInputDir, "*.json"))
	for _, file := range append(files, bad...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Parse(body)
		if err != nil {
			if n != nil {
				t.Fatal("Parse returned a notification with an error")
			}
			return
		}
		for _, p := range n.Problems {
			if p.Path == "" || p.Reason == "" {
				t.Fatalf("problem without a path or a reason: %+v", p)
			}
		}
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				for i := range c.Value.Messages {
					m := &c.Value.Messages[i]
					_, _ = m.Time()
					_ = m.SenderKey()
					_ = m.MediaInfo()
					if p := m.Preview(); strings.ContainsAny(p, "\r\n") {
						t.Fatalf("Preview %q is not one line", p)
					}
					_ = c.Value.ContactFor(m)
					if len(m.Raw) == 0 {
						t.Fatal("message without Raw")
					}
				}
				for i := range c.Value.Statuses {
					_, _ = c.Value.Statuses[i].Time()
				}
			}
		}
		// What Parse accepted survives a marshal, and a second round trip
		// changes nothing (an empty and a nil slice marshal alike, so the
		// JSON is compared rather than the structs).
		out, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("marshal parsed notification: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatalf("marshal re-parsed notification: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte("app-secret"), []byte(`{"object":"whatsapp_business_account"}`), "sha256=00")
	f.Add([]byte("k"), []byte(`{"t":"caf\u00e9"}`), "")
	f.Add([]byte("k"), []byte("x"), Sign([]byte("k"), []byte("x")))
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		err := VerifySignature(secret, body, header)
		if len(secret) == 0 {
			if err == nil {
				t.Fatal("verified with an empty secret")
			}
			return
		}
		want := Sign(secret, body)
		if err == nil && !strings.EqualFold(strings.TrimSpace(header), want) {
			t.Fatalf("accepted header %q for body %q, want %q", header, body, want)
		}
		if err := VerifySignature(secret, body, want); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}
