// Package fileblob is the embedded twin of S3 for the local stack: blobs
// are files under a root directory, written atomically, and presigned URLs
// are HMAC-signed links served by Handler.
//
// On disk, key "a/b/c" is the file <root>/a/b/c!blob: every path segment
// is escaped so that it never holds '!', which keeps files ("x!blob") and
// directories ("x") apart even for keys like "a" and "a/b". A blob file is
// one line of JSON metadata (the content type) followed by the body, so a
// body and its content type change together in one rename.
package fileblob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/blob"
)

// MaxKeyBytes is S3's key length limit, enforced here too.
const MaxKeyBytes = 1024

// MaxUploadBytes bounds a PUT through a presigned URL (WhatsApp's largest
// media, documents, are 100 MB).
const MaxUploadBytes = 128 << 20

// ErrInvalidKey is wrapped by the errors for keys this store refuses.
var ErrInvalidKey = errors.New("invalid blob key")

const fileSuffix = "!blob"

// Store keeps blobs under a root directory. It implements blob.Store.
type Store struct {
	root       string
	baseURL    string
	signingKey []byte
	now        func() time.Time
}

// New returns a Store under root (created on first write). Presigned URLs
// are baseURL+"/blobs/"+key+"?..." signed with signingKey. Handler serves
// request paths "/blobs/<key>": mount it at "/blobs/" of the server behind
// baseURL (under http.StripPrefix if baseURL has a path).
func New(root, baseURL string, signingKey []byte) *Store {
	return &Store{
		root:       root,
		baseURL:    strings.TrimSuffix(baseURL, "/"),
		signingKey: append([]byte(nil), signingKey...),
		now:        time.Now,
	}
}

type meta struct {
	ContentType string `json:"contentType"`
}

// ValidateKey reports whether key is a key this store accepts: 1 to
// MaxKeyBytes of UTF-8, slash-separated non-empty segments, none of them
// "." or "..", no leading slash, no backslash or NUL.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	case strings.ContainsAny(key, "\\\x00"):
		return fmt.Errorf("%w: %q holds a backslash or NUL", ErrInvalidKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q starts with a slash", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// path maps a valid key to its file.
func (s *Store) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = escapeSegment(seg)
		if len(segs[i])+len(fileSuffix) > 255 {
			return "", fmt.Errorf("%w: segment %q too long for a file name", ErrInvalidKey, seg)
		}
	}
	return filepath.Join(s.root, filepath.Join(segs...)) + fileSuffix, nil
}

// escapeSegment percent-escapes '%' and '!' so no segment holds the
// suffix marker, and leaves everything else (unicode included) readable.
func escapeSegment(seg string) string {
	if !strings.ContainsAny(seg, "%!") {
		return seg
	}
	return strings.NewReplacer("%", "%25", "!", "%21").Replace(seg)
}

// Put stores body under key, replacing what was there, atomically.
func (s *Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := s.write(p, body, contentType); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	return nil
}

func (s *Store) write(p string, body []byte, contentType string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	header, err := json.Marshal(meta{ContentType: contentType})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	w := bufio.NewWriter(tmp)
	w.Write(header)
	w.WriteByte('\n')
	w.Write(body)
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Get returns the body and content type under key, or blob.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	p, err := s.path(key)
	if err != nil {
		return nil, "", fmt.Errorf("get blob: %w", err)
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("get blob %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get blob %s: %w", key, err)
	}
	header, body, ok := bytes.Cut(raw, []byte("\n"))
	var m meta
	if !ok || json.Unmarshal(header, &m) != nil {
		return nil, "", fmt.Errorf("get blob %s: corrupt file %s", key, p)
	}
	return body, m.ContentType, nil
}

// Head returns the first n bytes under key, the body's size and its
// content type, reading no more of the file than that.
func (s *Store) Head(ctx context.Context, key string, n int) ([]byte, int64, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, "", err
	}
	p, err := s.path(key)
	if err != nil {
		return nil, 0, "", fmt.Errorf("head blob: %w", err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, "", fmt.Errorf("head blob %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("head blob %s: %w", key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, "", fmt.Errorf("head blob %s: %w", key, err)
	}
	r := bufio.NewReader(f)
	header, err := r.ReadBytes('\n')
	var m meta
	if err != nil || json.Unmarshal(header, &m) != nil {
		return nil, 0, "", fmt.Errorf("head blob %s: corrupt file %s", key, p)
	}
	head, err := io.ReadAll(io.LimitReader(r, int64(max(n, 0))))
	if err != nil {
		return nil, 0, "", fmt.Errorf("head blob %s: %w", key, err)
	}
	return head, st.Size() - int64(len(header)), m.ContentType, nil
}

// Delete removes key; deleting a missing key is not an error (as on S3).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}

// PresignGet returns a URL that GETs key until ttl passes.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return s.presign(http.MethodGet, key, "", ttl)
}

// PresignGetAs is PresignGet whose response has the given
// Content-Disposition; the disposition is signed.
func (s *Store) PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentDisposition string) (string, error) {
	u, err := s.presign(http.MethodGet, key, contentDisposition, ttl)
	if err != nil {
		return "", err
	}
	return u + "&" + url.Values{"disposition": {contentDisposition}}.Encode(), nil
}

// PresignPut returns a URL that PUTs a body of contentType (the request
// must send that Content-Type) under key until ttl passes.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, ttl time.Duration) (string, error) {
	return s.presign(http.MethodPut, key, contentType, ttl)
}

func (s *Store) presign(method, key, contentType string, ttl time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("presign %s: %w", method, err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("presign %s %s: ttl %s must be positive", method, key, ttl)
	}
	exp := strconv.FormatInt(s.now().Add(ttl).Unix(), 10)
	q := url.Values{"exp": {exp}, "sig": {s.sign(method, key, exp, contentType)}}
	return s.baseURL + "/blobs/" + escapeKey(key) + "?" + q.Encode(), nil
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// sign is HMAC-SHA256 over method, key, expiry and content type.
func (s *Store) sign(method, key, exp, contentType string) string {
	mac := hmac.New(sha256.New, s.signingKey)
	for _, part := range []string{method, key, exp, contentType} {
		mac.Write([]byte(part))
		mac.Write([]byte{0}) // NUL never occurs in a valid key or header
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// postPolicy is the signed document of a presigned POST, as S3's policy
// is: what the form must carry and until when.
type postPolicy struct {
	Expires     int64  `json:"exp"`
	Key         string `json:"key"`
	ContentType string `json:"contentType"`
	MinBytes    int64  `json:"min"`
	MaxBytes    int64  `json:"max"`
}

// PresignPost returns a form upload to baseURL+"/blobs/" that Handler
// accepts only with p's key and content type and a file within p's size
// range, until p.TTL passes; the same conditions S3 enforces.
func (s *Store) PresignPost(ctx context.Context, p blob.PostPolicy) (blob.PresignedPost, error) {
	if err := p.Validate(); err != nil {
		return blob.PresignedPost{}, err
	}
	if err := ValidateKey(p.Key); err != nil {
		return blob.PresignedPost{}, fmt.Errorf("presign post: %w", err)
	}
	doc, err := json.Marshal(postPolicy{
		Expires: s.now().Add(p.TTL).Unix(), Key: p.Key, ContentType: p.ContentType,
		MinBytes: p.MinBytes, MaxBytes: p.MaxBytes,
	})
	if err != nil {
		return blob.PresignedPost{}, fmt.Errorf("presign post %s: %w", p.Key, err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	return blob.PresignedPost{
		URL: s.baseURL + "/blobs/",
		Fields: map[string]string{
			"key": p.Key, "Content-Type": p.ContentType,
			"policy": policy, "signature": s.sign(http.MethodPost, policy, "", ""),
		},
	}, nil
}

// maxFormFieldBytes bounds the form fields before the file.
const maxFormFieldBytes = 64 << 10

// servePost stores the file of a presigned POST form if the form's policy
// is signed, unexpired and met: 204 as S3 answers, 403 for a bad
// signature or a field that breaks the policy, 400 for a file outside the
// size range or a malformed form.
func (s *Store) servePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes+maxFormFieldBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "a presigned POST is multipart/form-data", http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			http.Error(w, "form ended without a file field", http.StatusBadRequest)
			return
		}
		if part.FormName() != "file" {
			v, err := io.ReadAll(io.LimitReader(part, maxFormFieldBytes+1))
			if err != nil || len(v) > maxFormFieldBytes {
				http.Error(w, "form field unreadable or too long", http.StatusBadRequest)
				return
			}
			fields[part.FormName()] = string(v)
			continue
		}
		policy, ok := s.verifyPolicy(fields["policy"], fields["signature"])
		if !ok {
			http.Error(w, "policy signature invalid or expired", http.StatusForbidden)
			return
		}
		if fields["key"] != policy.Key || fields["Content-Type"] != policy.ContentType {
			http.Error(w, "Invalid according to Policy: Policy Condition failed (key or Content-Type)", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(io.LimitReader(part, policy.MaxBytes+1))
		if err != nil {
			http.Error(w, "file unreadable", http.StatusBadRequest)
			return
		}
		if n := int64(len(body)); n > policy.MaxBytes || n < policy.MinBytes {
			http.Error(w, fmt.Sprintf("Your proposed upload is outside the allowed size range %d..%d bytes", policy.MinBytes, policy.MaxBytes), http.StatusBadRequest)
			return
		}
		if err := s.Put(r.Context(), policy.Key, body, policy.ContentType); err != nil {
			http.Error(w, "write failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
}

func (s *Store) verifyPolicy(policy, sig string) (postPolicy, bool) {
	var p postPolicy
	if !hmac.Equal([]byte(sig), []byte(s.sign(http.MethodPost, policy, "", ""))) {
		return p, false
	}
	doc, err := base64.StdEncoding.DecodeString(policy)
	if err != nil || json.Unmarshal(doc, &p) != nil || s.now().Unix() > p.Expires {
		return p, false
	}
	return p, true
}

// Handler serves presigned URLs at /blobs/<key>: GET returns the body with
// its content type, PUT stores the request body, and POST /blobs/ takes a
// presigned form upload. A bad, expired or mismatched signature is 403 (a
// PUT whose Content-Type differs from the signed one included), a missing
// blob 404.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/blobs/" || r.URL.Path == "/blobs") {
			s.servePost(w, r)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, "/blobs/")
		if !ok || ValidateKey(key) != nil {
			http.Error(w, "no such blob URL", http.StatusNotFound)
			return
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		if method != http.MethodGet && method != http.MethodPut {
			w.Header().Set("Allow", "GET, HEAD, PUT")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The signed fourth part: the Content-Type a PUT must send, or the
		// Content-Disposition a GET answers with.
		contentType, disposition := "", r.URL.Query().Get("disposition")
		signedPart := disposition
		if method == http.MethodPut {
			contentType = r.Header.Get("Content-Type")
			signedPart = contentType
		}
		if !s.verify(method, key, signedPart, r.URL.Query()) {
			http.Error(w, "signature invalid or expired", http.StatusForbidden)
			return
		}
		switch method {
		case http.MethodGet:
			body, ct, err := s.Get(r.Context(), key)
			if errors.Is(err, blob.ErrNotFound) {
				http.Error(w, "blob not found", http.StatusNotFound)
				return
			}
			if err != nil {
				http.Error(w, "read failed", http.StatusInternalServerError)
				return
			}
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			if disposition != "" {
				w.Header().Set("Content-Disposition", disposition)
			}
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			if r.Method == http.MethodHead {
				return
			}
			w.Write(body)
		case http.MethodPut:
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUploadBytes))
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			if err != nil {
				http.Error(w, "body unreadable", http.StatusBadRequest)
				return
			}
			if err := s.Put(r.Context(), key, body, contentType); err != nil {
				http.Error(w, "write failed", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	})
}

func (s *Store) verify(method, key, contentType string, q url.Values) bool {
	exp, sig := q.Get("exp"), q.Get("sig")
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.now().Unix() > expUnix {
		return false
	}
	want := s.sign(method, key, exp, contentType)
	return hmac.Equal([]byte(sig), []byte(want))
}

var _ blob.Store = (*Store)(nil)
