package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/media"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

func TestUploads(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		u, err := media.NewUpload("org_1", "att1", "u1", "photo.png", "image/png", 1000, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "create twice", s.CreateUpload(ctx, u), apperr.Conflict)

		got, err := s.Upload(ctx, "org_1", "att1")
		if err != nil || *got != *u {
			t.Fatalf("Upload = %+v, %v; want %+v", got, err, u)
		}
		_, err = s.Upload(ctx, "org_2", "att1")
		wantCode(t, "another org's upload", err, apperr.NotFound)
		_, err = s.MarkUploadReady(ctx, "org_2", "att1", now)
		wantCode(t, "another org marks ready", err, apperr.NotFound)

		ready, err := s.MarkUploadReady(ctx, "org_1", "att1", now.Add(time.Minute))
		if err != nil || ready.Status != media.UploadReady || !ready.ReadyAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("MarkUploadReady = %+v, %v", ready, err)
		}
		again, err := s.MarkUploadReady(ctx, "org_1", "att1", now.Add(time.Hour))
		if err != nil || !again.ReadyAt.Equal(ready.ReadyAt) {
			t.Errorf("second MarkUploadReady = %+v, %v; want the first ready time kept", again, err)
		}
		if got, err := s.Upload(ctx, "org_1", "att1"); err != nil || got.Status != media.UploadReady {
			t.Errorf("after ready: %+v, %v", got, err)
		}
	})
}

func TestUploadBlobKeyIsUnderTheOrgPrefix(t *testing.T) {
	if got := storage.UploadBlobKey("org_1", "att1"); got != "attachments/org_1/att1" {
		t.Errorf("UploadBlobKey = %q", got)
	}
	if storage.UploadPrefix("org_1") == storage.UploadPrefix("org_10")[:len(storage.UploadPrefix("org_1"))] {
		t.Errorf("prefix of org_1 is a prefix of org_10's")
	}
}
