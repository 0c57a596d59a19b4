// Package blobtest is the contract every blob.Store passes: put and get
// with content types, overwrite, delete, ErrNotFound, presigned GET and PUT
// used through plain net/http, 3 MB bodies, and keys with slashes and
// unicode.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/blob"
)

// Run runs the contract; newStore is called once per subtest and must
// return an empty store whose presigned URLs are served.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"Keys", testKeys},
		{"LargeBody", testLargeBody},
		{"PresignedGet", testPresignedGet},
		{"PresignedPut", testPresignedPut},
		{"PresignedPost", testPresignedPost},
		{"PresignedGetAs", testPresignedGetAs},
		{"Head", testHead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func put(t *testing.T, s blob.Store, key string, body []byte, contentType string) {
	t.Helper()
	if err := s.Put(context.Background(), key, body, contentType); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s blob.Store, key string, wantBody []byte, wantType string) {
	t.Helper()
	body, ct, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(body, wantBody) {
		t.Errorf("Get(%q) body = %s, want %s", key, abbrev(body), abbrev(wantBody))
	}
	if ct != wantType {
		t.Errorf("Get(%q) content type = %q, want %q", key, ct, wantType)
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func testPutGet(t *testing.T, s blob.Store) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	tests := []struct {
		key, contentType string
		body             []byte
	}{
		{"text.txt", "text/plain; charset=utf-8", []byte("héllo 👋")},
		{"doc.json", "application/json", []byte(`{"a":1}`)},
		{"binary.bin", "application/octet-stream", allBytes},
		{"image.jpg", "image/jpeg", []byte("\xff\xd8\xff\xe0fake jpeg")},
	}
	for _, tt := range tests {
		put(t, s, tt.key, tt.body, tt.contentType)
	}
	for _, tt := range tests {
		mustGet(t, s, tt.key, tt.body, tt.contentType)
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "media/1", []byte("first version, longer than the second"), "text/plain")
	put(t, s, "media/1", []byte("second"), "application/pdf")
	mustGet(t, s, "media/1", []byte("second"), "application/pdf")
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "gone/soon", []byte("x"), "text/plain")
	put(t, s, "gone/stays", []byte("y"), "text/plain")
	if err := s.Delete(ctx, "gone/soon"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := s.Get(ctx, "gone/soon"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get after Delete: error = %v, want ErrNotFound", err)
	}
	mustGet(t, s, "gone/stays", []byte("y"), "text/plain")
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil (as on S3)", err)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "dir/file", []byte("x"), "text/plain")
	for _, key := range []string{"missing", "dir/missing", "dir", "dir/file/below"} {
		if _, _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
		}
	}
}

func testKeys(t *testing.T, s blob.Store) {
	keys := []string{
		"a",
		"a/b", // "a" is both a blob and a prefix
		"a/b/c.txt",
		"claimcheck/2026/11/23/0123456789abcdef0123456789abcdef",
		"médias/日本語/👋 wave.jpg",
		"with space/file name (1).pdf",
		"symbols/plus+equals=amp&hash#question?percent%25bang!",
		"org_1/conv-2/att.3/quote.v2.pdf",
	}
	for i, key := range keys {
		put(t, s, key, []byte(fmt.Sprintf("body %d of %s", i, key)), "text/plain")
	}
	for i, key := range keys {
		mustGet(t, s, key, []byte(fmt.Sprintf("body %d of %s", i, key)), "text/plain")
	}
	// The same keys work through presigned URLs (escaping included).
	for i, key := range keys {
		u, err := s.PresignGet(context.Background(), key, time.Minute)
		if err != nil {
			t.Fatalf("PresignGet(%q): %v", key, err)
		}
		status, body, _ := do(t, http.MethodGet, u, nil, "")
		if want := fmt.Sprintf("body %d of %s", i, key); status != http.StatusOK || string(body) != want {
			t.Errorf("GET presigned %q = %d %q, want 200 %q", key, status, body, want)
		}
	}
}

func testLargeBody(t *testing.T, s blob.Store) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB
	body[len(body)/2] = 0xff
	put(t, s, "claimcheck/big", body, "application/json")
	mustGet(t, s, "claimcheck/big", body, "application/json")

	u, err := s.PresignPut(context.Background(), "uploads/big", "video/mp4", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, resp, _ := do(t, http.MethodPut, u, body, "video/mp4"); status != http.StatusOK {
		t.Fatalf("presigned PUT of 3 MiB = %d %s", status, resp)
	}
	u, err = s.PresignGet(context.Background(), "uploads/big", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, got, _ := do(t, http.MethodGet, u, nil, "")
	if status != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("presigned GET of 3 MiB = %d, %d bytes (equal: %v)", status, len(got), bytes.Equal(got, body))
	}
}

func testPresignedGet(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "att/quote.pdf", []byte("%PDF-1.7 fake"), "application/pdf")
	u, err := s.PresignGet(ctx, "att/quote.pdf", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, body, header := do(t, http.MethodGet, u, nil, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, status, body)
	}
	if string(body) != "%PDF-1.7 fake" {
		t.Errorf("body = %q", body)
	}
	if got := header.Get("Content-Type"); got != "application/pdf" {
		t.Errorf("Content-Type = %q, want application/pdf", got)
	}
	// A URL for a key that holds nothing does not succeed. (S3 says 404,
	// or 403 when the signer may not list the bucket.)
	u, err = s.PresignGet(ctx, "att/missing.pdf", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := do(t, http.MethodGet, u, nil, ""); status != http.StatusNotFound && status != http.StatusForbidden {
		t.Errorf("GET presigned missing key = %d, want 404 or 403", status)
	}
}

func testPresignedPut(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, err := s.PresignPut(ctx, "uploads/u1/photo.png", "image/png", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		t.Fatalf("presigned URL %q is not absolute", u)
	}
	png := []byte("\x89PNG\r\n\x1a\nfake png")
	if status, body, _ := do(t, http.MethodPut, u, png, "image/png"); status != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", u, status, body)
	}
	mustGet(t, s, "uploads/u1/photo.png", png, "image/png")
}

func testPresignedPost(t *testing.T, s blob.Store) {
	png := []byte("\x89PNG\r\n\x1a\nfake png")
	post := presignPost(t, s, "attachments/org_1/a1", "image/png", 1, 1<<20)
	if status, body := PostForm(t, post, nil, png); status/100 != 2 {
		t.Fatalf("presigned POST = %d %s", status, body)
	}
	mustGet(t, s, "attachments/org_1/a1", png, "image/png")
}

func testPresignedGetAs(t *testing.T, s blob.Store) {
	put(t, s, "att/q.pdf", []byte("%PDF-1.7 fake"), "application/pdf")
	for _, disposition := range []string{"inline", `attachment; filename="quote 7.pdf"; filename*=UTF-8''quote%207.pdf`} {
		u, err := s.PresignGetAs(context.Background(), "att/q.pdf", time.Minute, disposition)
		if err != nil {
			t.Fatal(err)
		}
		status, body, header := do(t, http.MethodGet, u, nil, "")
		if status != http.StatusOK || string(body) != "%PDF-1.7 fake" || header.Get("Content-Disposition") != disposition {
			t.Errorf("GET %s = %d %q, Content-Disposition %q; want 200 with %q", u, status, body, header.Get("Content-Disposition"), disposition)
		}
	}
}

func testHead(t *testing.T, s blob.Store) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("0123456789"), 100)
	put(t, s, "att/h", body, "text/plain")
	for _, n := range []int{0, 1, 512, 5000} {
		head, size, ct, err := s.Head(ctx, "att/h", n)
		if err != nil {
			t.Fatalf("Head(%d): %v", n, err)
		}
		if want := body[:min(n, len(body))]; !bytes.Equal(head, want) || size != int64(len(body)) || ct != "text/plain" {
			t.Errorf("Head(%d) = %d bytes, size %d, %q; want %d bytes, size %d, text/plain", n, len(head), size, ct, len(want), len(body))
		}
	}
	if _, _, _, err := s.Head(ctx, "att/missing", 10); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Head of a missing key: error = %v, want ErrNotFound", err)
	}
}

func presignPost(t *testing.T, s blob.Store, key, contentType string, min, max int64) blob.PresignedPost {
	t.Helper()
	post, err := s.PresignPost(context.Background(), blob.PostPolicy{Key: key, ContentType: contentType, MinBytes: min, MaxBytes: max, TTL: 15 * time.Minute})
	if err != nil {
		t.Fatalf("PresignPost(%q): %v", key, err)
	}
	return post
}

// RunPostPolicy checks that a store refuses form uploads that break their
// policy, as S3 does: a file over or under the size range, another
// Content-Type, another key, a tampered policy and an expired one. Only
// stores that enforce policies run it (not gofakes3). expire makes the
// store's clock pass the expiry of a policy just signed (15 minutes), or
// is nil to skip that case.
func RunPostPolicy(t *testing.T, s blob.Store, expire func()) {
	png := []byte("\x89PNG\r\n\x1a\nfake png")
	tests := []struct {
		name      string
		overrides map[string]string
		file      []byte
	}{
		{"over the size range", nil, bytes.Repeat([]byte("x"), 101)},
		{"under the size range", nil, []byte("tiny")},
		{"another content type", map[string]string{"Content-Type": "text/html"}, png},
		{"another key", map[string]string{"key": "attachments/org_2/a1"}, png},
		{"tampered policy", map[string]string{"policy": "eyJ9"}, png},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("attachments/org_1/refused%d", i)
			post := presignPost(t, s, key, "image/png", 10, 100)
			if status, body := PostForm(t, post, tt.overrides, tt.file); status/100 == 2 {
				t.Fatalf("presigned POST %s = %d %s, want a refusal", tt.name, status, body)
			}
			for _, k := range []string{key, "attachments/org_2/a1"} {
				if _, _, err := s.Get(context.Background(), k); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("after a refused POST, Get(%q) error = %v, want ErrNotFound", k, err)
				}
			}
		})
	}
	if expire != nil {
		t.Run("expired", func(t *testing.T) {
			post := presignPost(t, s, "attachments/org_1/late", "image/png", 10, 100)
			expire()
			if status, body := PostForm(t, post, nil, png); status/100 == 2 {
				t.Fatalf("expired presigned POST = %d %s, want a refusal", status, body)
			}
		})
	}
}

// PostForm sends a presigned POST as a browser form does: every field
// (overrides replacing some), then the file last. It returns the status
// and body.
func PostForm(t *testing.T, post blob.PresignedPost, overrides map[string]string, file []byte) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := maps.Clone(post.Fields)
	maps.Copy(fields, overrides)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if err := mw.WriteField(k, fields[k]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "upload")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	status, body, _ := do(t, http.MethodPost, post.URL, buf.Bytes(), mw.FormDataContentType())
	return status, body
}

// do sends one request with net/http's default client.
func do(t *testing.T, method, url string, body []byte, contentType string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, got, resp.Header
}

// Do is do for implementation-specific tests: it sends one request with
// net/http's default client and returns status, body and header.
func Do(t *testing.T, method, url string, body []byte, contentType string) (int, []byte, http.Header) {
	t.Helper()
	return do(t, method, url, body, contentType)
}
