package httpapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/media"
)

// UploadStore keeps the files users upload from their computers, per org.
type UploadStore interface {
	// CreateUpload stores a new pending upload and sets its BlobKey.
	CreateUpload(ctx context.Context, u *media.Upload) error
	// Upload returns one of org's uploads; apperr.NotFound otherwise.
	Upload(ctx context.Context, org, id string) (*media.Upload, error)
	MarkUploadReady(ctx context.Context, org, id string, now time.Time) (*media.Upload, error)
}

// UploadBlobs is what uploads need from the blob store; blob.Store
// implements it.
type UploadBlobs interface {
	PresignPost(ctx context.Context, p blob.PostPolicy) (blob.PresignedPost, error)
	PresignGetAs(ctx context.Context, key string, ttl time.Duration, contentDisposition string) (string, error)
	Head(ctx context.Context, key string, n int) (head []byte, size int64, contentType string, err error)
	Delete(ctx context.Context, key string) error
}

// maxUploadRequestBody bounds POST /v1/attachments: a name, a type, a size.
const maxUploadRequestBody = 4 << 10

type uploadBody struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
}

// uploadView is an upload as the frontend sees it: where it is kept stays
// internal; short-lived URLs stand for it once it is ready.
type uploadView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	MessageType string    `json:"messageType"`
	Status      string    `json:"status"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
	ReadyAt     time.Time `json:"readyAt,omitzero"`
	PreviewURL  string    `json:"previewUrl,omitempty"`
	DownloadURL string    `json:"downloadUrl,omitempty"`
}

type uploadForm struct {
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expiresAt"`
}

func (a *API) uploadsConfigured() error {
	if a.Uploads == nil || a.UploadBlobs == nil {
		return apperr.E(apperr.Unavailable, "File uploads are not configured in this deployment.")
	}
	return nil
}

// createUpload declares a file and answers with a form that uploads it
// straight to the blob store, under the org's prefix, with its exact type
// and a size within WhatsApp's limit for that type, for media.UploadTTL.
func (a *API) createUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.uploadsConfigured(); err != nil {
		return err
	}
	var body uploadBody
	if err := decodeJSON(w, r, maxUploadRequestBody, &body); err != nil {
		return err
	}
	now := a.now()
	u, err := media.NewUpload(p.Org, ids.New("att"), p.UserID, body.Name, body.ContentType, body.Size, now)
	if err != nil {
		return err
	}
	if err := a.Uploads.CreateUpload(r.Context(), u); err != nil {
		return err
	}
	// The form takes exactly the declared size: complete then only has to
	// check the bytes, and a form cannot carry a bigger file than declared.
	post, err := a.UploadBlobs.PresignPost(r.Context(), blob.PostPolicy{
		Key: u.BlobKey, ContentType: u.ContentType, MinBytes: u.Size, MaxBytes: u.Size, TTL: media.UploadTTL,
	})
	if err != nil {
		return fmt.Errorf("upload form for %s: %w", u.ID, err)
	}
	view, err := a.uploadViewOf(r.Context(), u)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/attachments/"+u.ID)
	writeJSON(w, http.StatusCreated, struct {
		uploadView
		Upload uploadForm `json:"upload"`
	}{view, uploadForm{URL: post.URL, Fields: post.Fields, ExpiresAt: now.Add(media.UploadTTL)}})
	return nil
}

// completeUpload checks what was uploaded against what was declared and
// marks it ready; a file that fails the check is deleted, so nothing
// unchecked is ever kept or sent.
func (a *API) completeUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.uploadsConfigured(); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := a.Uploads.Upload(ctx, p.Org, r.PathValue("id"))
	if err != nil {
		return err
	}
	if u.Status != media.UploadReady {
		head, size, _, err := a.UploadBlobs.Head(ctx, u.BlobKey, media.SniffBytes)
		if errors.Is(err, blob.ErrNotFound) {
			return apperr.Wrap(err, apperr.Conflict, "%s has not been uploaded yet: post it with the upload form first.", u.Name)
		}
		if err != nil {
			return fmt.Errorf("read upload %s: %w", u.ID, err)
		}
		if err := u.CheckStored(size, head); err != nil {
			if derr := a.UploadBlobs.Delete(ctx, u.BlobKey); derr != nil {
				return errors.Join(err, fmt.Errorf("delete refused upload %s: %w", u.ID, derr))
			}
			return err
		}
		if u, err = a.Uploads.MarkUploadReady(ctx, p.Org, u.ID, a.now()); err != nil {
			return err
		}
	}
	view, err := a.uploadViewOf(ctx, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *API) getUpload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.uploadsConfigured(); err != nil {
		return err
	}
	u, err := a.Uploads.Upload(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		return err
	}
	view, err := a.uploadViewOf(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// uploadViewOf adds, to a ready upload, a download URL that saves the file
// under its name and, for types a browser may show safely, a preview URL
// that shows it inline.
func (a *API) uploadViewOf(ctx context.Context, u *media.Upload) (uploadView, error) {
	v := uploadView{
		ID: u.ID, Name: u.Name, ContentType: u.ContentType, Size: u.Size, MessageType: u.MessageType,
		Status: u.Status, CreatedBy: u.CreatedBy, CreatedAt: u.CreatedAt, ReadyAt: u.ReadyAt,
	}
	if u.Status != media.UploadReady {
		return v, nil
	}
	var err error
	download := mime.FormatMediaType("attachment", map[string]string{"filename": u.Name})
	if v.DownloadURL, err = a.UploadBlobs.PresignGetAs(ctx, u.BlobKey, DownloadURLTTL, download); err != nil {
		return v, fmt.Errorf("download URL of %s: %w", u.ID, err)
	}
	if media.Inline(u.ContentType) {
		if v.PreviewURL, err = a.UploadBlobs.PresignGetAs(ctx, u.BlobKey, DownloadURLTTL, "inline"); err != nil {
			return v, fmt.Errorf("preview URL of %s: %w", u.ID, err)
		}
	}
	return v, nil
}
