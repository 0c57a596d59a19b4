package fileblob

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/blob/blobtest"
)

// newServed returns a Store whose Handler serves its presigned URLs.
func newServed(t *testing.T) (*Store, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	root := t.TempDir()
	s := New(root, base, []byte("test signing key"))
	mux := http.NewServeMux()
	mux.Handle("/blobs/", s.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return s, root
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, _ := newServed(t)
		return s
	})
}

func TestSignatureChecks(t *testing.T) {
	ctx := context.Background()
	s, _ := newServed(t)
	if err := s.Put(ctx, "a/secret.txt", []byte("secret"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/other.txt", []byte("other"), "text/plain"); err != nil {
		t.Fatal(err)
	}
	getURL, err := s.PresignGet(ctx, "a/secret.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	putURL, err := s.PresignPut(ctx, "a/upload.png", "image/png", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(raw string, f func(u *url.URL)) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		f(u)
		return u.String()
	}
	setQuery := func(k, v string) func(*url.URL) {
		return func(u *url.URL) {
			q := u.Query()
			q.Set(k, v)
			u.RawQuery = q.Encode()
		}
	}
	// Signed by the same key but another store instance that thinks it is
	// two hours later: a URL that expired an hour ago.
	past := New(s.root, s.baseURL, s.signingKey)
	past.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expiredURL, err := past.PresignGet(ctx, "a/secret.txt", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := New(s.root, s.baseURL, []byte("another key"))
	foreignURL, err := otherKey.PresignGet(ctx, "a/secret.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		method, url string
		contentType string
		want        int
	}{
		{"valid GET", http.MethodGet, getURL, "", http.StatusOK},
		{"valid HEAD", http.MethodHead, getURL, "", http.StatusOK},
		{"expired", http.MethodGet, expiredURL, "", http.StatusForbidden},
		{"signed with another key", http.MethodGet, foreignURL, "", http.StatusForbidden},
		{"tampered signature", http.MethodGet, tamper(getURL, setQuery("sig", strings.Repeat("0", 64))), "", http.StatusForbidden},
		{"extended expiry", http.MethodGet, tamper(getURL, setQuery("exp", "99999999999")), "", http.StatusForbidden},
		{"no signature", http.MethodGet, tamper(getURL, func(u *url.URL) { u.RawQuery = "" }), "", http.StatusForbidden},
		{"other key, same signature", http.MethodGet, strings.Replace(getURL, "secret.txt", "other.txt", 1), "", http.StatusForbidden},
		{"GET URL used to PUT", http.MethodPut, getURL, "text/plain", http.StatusForbidden},
		{"PUT URL used to GET", http.MethodGet, putURL, "", http.StatusForbidden},
		{"PUT with another content type", http.MethodPut, putURL, "text/html", http.StatusForbidden},
		{"PUT without content type", http.MethodPut, putURL, "", http.StatusForbidden},
		{"DELETE", http.MethodDelete, getURL, "", http.StatusMethodNotAllowed},
		{"path traversal", http.MethodGet, s.baseURL + "/blobs/a/../../etc/passwd?" + strings.SplitN(getURL, "?", 2)[1], "", http.StatusNotFound},
		{"outside /blobs/", http.MethodGet, s.baseURL + "/elsewhere/a/secret.txt", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method == http.MethodPut {
				body = []byte("<script>")
			}
			status, resp, _ := blobtest.Do(t, tt.method, tt.url, body, tt.contentType)
			if status != tt.want {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.url, status, resp, tt.want)
			}
		})
	}
	if _, _, err := s.Get(ctx, "a/upload.png"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a refused PUT stored something: Get error = %v", err)
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir(), "http://unused", []byte("k"))
	keys := []string{
		"", "/abs", "a//b", "a/", "..", "../x", "a/../../x", "a/./b", ".",
		`a\b`, "nul\x00", string([]byte{0xff, 'a'}), strings.Repeat("k", MaxKeyBytes+1),
	}
	for _, key := range keys {
		if err := s.Put(ctx, key, []byte("x"), "text/plain"); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.PresignGet(ctx, key, time.Minute); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PresignGet(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestLayoutOnDisk(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := New(root, "http://unused", []byte("k"))
	for _, key := range []string{"a", "a/b", "x!blob", "x!blob/y", "100%"} {
		if err := s.Put(ctx, key, []byte(key), "text/plain"); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	want := []string{"100%25!blob", "a!blob", "a/b!blob", "x%21blob!blob", "x%21blob/y!blob"}
	if !slices.Equal(files, want) {
		t.Errorf("files = %v, want %v (and no temp files)", files, want)
	}
}

func TestConcurrentPutsNeverTear(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir(), "http://unused", []byte("k"))
	bodies := map[string]string{
		"text/a": strings.Repeat("a", 1<<20),
		"text/b": strings.Repeat("b", 1<<10),
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for ct, body := range bodies {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Put(ctx, "race", []byte(body), ct); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		body, ct, err := s.Get(ctx, "race")
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bodies[ct] != string(body) {
			t.Fatalf("read a torn blob: content type %q with a %d-byte body", ct, len(body))
		}
	}
	close(stop)
	wg.Wait()
}

func TestPostPolicy(t *testing.T) {
	s, _ := newServed(t)
	blobtest.RunPostPolicy(t, s, func() {
		s.now = func() time.Time { return time.Now().Add(16 * time.Minute) }
	})
}

// The disposition of a GET URL is signed: a preview URL cannot be turned
// into another disposition, nor a plain URL given one.
func TestDispositionIsSigned(t *testing.T) {
	ctx := context.Background()
	s, _ := newServed(t)
	if err := s.Put(ctx, "att/a.pdf", []byte("%PDF-1.7"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	inline, err := s.PresignGetAs(ctx, "att/a.pdf", time.Minute, "inline")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.PresignGet(ctx, "att/a.pdf", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		strings.Replace(inline, "disposition=inline", "disposition=attachment", 1),
		strings.Replace(inline, "&disposition=inline", "", 1),
		plain + "&disposition=inline",
	} {
		if status, _, _ := blobtest.Do(t, http.MethodGet, u, nil, ""); status != http.StatusForbidden {
			t.Errorf("GET %s = %d, want 403", u, status)
		}
	}
}
