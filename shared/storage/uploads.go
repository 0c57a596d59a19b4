package storage

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/media"
	"github.com/wacrm/wacrm/shared/table"
)

// An upload is one item, addressed by org and id, so a read with another
// org finds nothing:
//
//	upload             PK UPLOAD#<org>#<id>          SK UPLOAD
func uploadKey(org, id string) table.Key {
	return table.Key{PK: "UPLOAD#" + org + "#" + id, SK: "UPLOAD"}
}

// UploadBlobKey is where an upload's bytes are kept: under the org's own
// prefix, attachments/<org>/<id>, so a grant on the prefix is a grant on
// the org's files and nobody else's.
func UploadBlobKey(org, id string) string {
	return UploadPrefix(org) + url.PathEscape(id)
}

// UploadPrefix is the blob key prefix of an org's uploads.
func UploadPrefix(org string) string {
	return "attachments/" + url.PathEscape(org) + "/"
}

type uploadItem struct {
	table.Keys
	media.Upload
}

// CreateUpload stores a new pending upload and sets its BlobKey; an id
// already used is Conflict.
func (s *Store) CreateUpload(ctx context.Context, u *media.Upload) error {
	u.BlobKey = UploadBlobKey(u.Org, u.ID)
	it := &uploadItem{Upload: *u}
	k := uploadKey(u.Org, u.ID)
	it.PK, it.SK, it.Ver = k.PK, k.SK, 1
	err := s.t.Write(ctx, table.Op{Put: it, Cond: table.NotExists()})
	if table.FailedOp(err) == 0 {
		return apperr.Wrap(err, apperr.Conflict, "Attachment %s already exists.", u.ID)
	}
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// Upload returns one of org's uploads; another org's is NotFound.
func (s *Store) Upload(ctx context.Context, org, id string) (*media.Upload, error) {
	var it uploadItem
	if err := s.t.Get(ctx, uploadKey(org, id), &it); err != nil {
		return nil, notFound(err, "attachment", id)
	}
	return &it.Upload, nil
}

// MarkUploadReady marks one of org's uploads ready at now and returns it;
// one already ready is returned as it is (completing twice is harmless).
func (s *Store) MarkUploadReady(ctx context.Context, org, id string, now time.Time) (*media.Upload, error) {
	var it uploadItem
	var out media.Upload
	err := s.update(ctx, uploadKey(org, id), &it, false, func(bool) ([]table.Op, error) {
		if it.Status != media.UploadReady {
			it.Status, it.ReadyAt = media.UploadReady, now.UTC()
		}
		out = it.Upload
		return nil, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "The attachment %s was not found.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("mark upload %s ready: %w", id, err)
	}
	return &out, nil
}
