package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

// A message's media is kept twice: on the message (the Messages tab) and on
// its attachment item (the Attachments tab). UpdateMessageMedia changes
// both in one transaction, so the tabs never disagree.

// UpdateMessageMedia changes the media of a stored message and of its
// attachment item atomically. fn sees the message's media and changes it in
// place; an error from fn changes nothing and is returned as it is. fn may
// be called more than once when writers collide. A message that is not
// stored, or has no media, is apperr.NotFound.
func (s *Store) UpdateMessageMedia(ctx context.Context, org, conversationID string, ts time.Time, id string, fn func(*inbox.Media) error) error {
	pk := messagesPK(org, conversationID)
	msgKey := table.Key{PK: pk, SK: messageSK(ts, id)}
	attKey := table.Key{PK: pk, SK: attachmentSK(ts, id)}
	for range maxAttempts {
		var att attachmentItem
		attErr := s.t.Get(ctx, attKey, &att)
		if attErr != nil && !errors.Is(attErr, table.ErrNotFound) {
			return fmt.Errorf("get attachment of %s: %w", id, attErr)
		}
		attVer := att.Ver
		var it messageItem
		var fnErr error
		err := s.update(ctx, msgKey, &it, false, func(bool) ([]table.Op, error) {
			if it.Media == nil {
				return nil, errNoMedia
			}
			if fnErr = fn(it.Media); fnErr != nil {
				return nil, fnErr
			}
			if errors.Is(attErr, table.ErrNotFound) {
				// Written with the message whenever there is media; rebuilt
				// here so the Attachments tab lists it even if it went missing.
				return []table.Op{{Put: newAttachmentItem(&it.Message), Cond: table.NotExists()}}, nil
			}
			att.Media = *it.Media
			att.Ver = attVer + 1
			return []table.Op{{Put: &att, Cond: table.Version(attVer)}}, nil
		})
		switch {
		case err == nil:
			return nil
		case fnErr != nil && err == fnErr:
			return err
		case table.FailedOp(err) == 1:
			continue // the attachment item changed meanwhile: read both again
		case errors.Is(err, errNoMedia):
			return apperr.E(apperr.NotFound, "Message %s has no media.", id)
		case errors.Is(err, table.ErrNotFound):
			return apperr.Wrap(err, apperr.NotFound, "Message %s not found.", id)
		}
		return fmt.Errorf("update media of %s: %w", id, err)
	}
	return fmt.Errorf("update media of %s: too much contention", id)
}

var errNoMedia = errors.New("message has no media")
