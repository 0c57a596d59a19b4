package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

type viewItem struct {
	table.Keys
	inbox.View
}

// maxViewsPerUser keeps one user's views to a single small query.
const maxViewsPerUser = 100

// SaveView stores a user's new view.
func (s *Store) SaveView(ctx context.Context, org, user string, v *inbox.View) error {
	existing, err := s.Views(ctx, org, user)
	if err != nil {
		return err
	}
	if len(existing) >= maxViewsPerUser {
		return apperr.E(apperr.Conflict, "You have %d saved views, the most allowed; delete one first.", maxViewsPerUser)
	}
	it := &viewItem{View: *v}
	k := viewKey(org, user, v.ID)
	it.PK, it.SK, it.Ver = k.PK, k.SK, 1
	if err := s.t.Write(ctx, table.Op{Put: it, Cond: table.NotExists()}); err != nil {
		return fmt.Errorf("save view %s: %w", v.ID, err)
	}
	return nil
}

// Views lists a user's saved views, oldest first.
func (s *Store) Views(ctx context.Context, org, user string) ([]inbox.View, error) {
	var page []viewItem
	if _, err := s.t.Query(ctx, table.Query{PK: viewsPK(org, user), SKPrefix: "VIEW#", Limit: maxViewsPerUser}, &page); err != nil {
		return nil, fmt.Errorf("query views of %s: %w", user, err)
	}
	out := make([]inbox.View, len(page))
	for i := range page {
		out[i] = page[i].View
	}
	return out, nil
}

// View returns one of a user's saved views.
func (s *Store) View(ctx context.Context, org, user, id string) (*inbox.View, error) {
	var it viewItem
	if err := s.t.Get(ctx, viewKey(org, user, id), &it); err != nil {
		return nil, notFound(err, "view", id)
	}
	return &it.View, nil
}

// DeleteView removes a user's saved view; a missing one is NotFound.
func (s *Store) DeleteView(ctx context.Context, org, user, id string) error {
	k := viewKey(org, user, id)
	err := s.t.Write(ctx, table.Op{Delete: &k, Cond: table.Exists()})
	if errors.Is(err, table.ErrConditionFailed) {
		return apperr.E(apperr.NotFound, "View %s not found.", id)
	}
	if err != nil {
		return fmt.Errorf("delete view %s: %w", id, err)
	}
	return nil
}

type attachmentItem struct {
	table.Keys
	inbox.Attachment
}

func newAttachmentItem(m *inbox.Message) *attachmentItem {
	it := &attachmentItem{Attachment: inbox.AttachmentOf(m)}
	it.PK, it.SK, it.Ver = messagesPK(m.Org, m.ConversationID), attachmentSK(m.Timestamp, m.ID), 1
	return it
}

// Attachments returns a page of a conversation's attachments, newest first.
func (s *Store) Attachments(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Attachment, string, error) {
	q := table.Query{PK: messagesPK(org, conversationID), SKPrefix: "ATT#", Limit: limit, Descending: true}
	var err error
	if q.Cursor, err = decodeCursor(q, cursor); err != nil {
		return nil, "", err
	}
	var page []attachmentItem
	next, err := s.queryPage(ctx, q, &page)
	if err != nil {
		return nil, "", fmt.Errorf("query attachments of %s: %w", conversationID, err)
	}
	out := make([]inbox.Attachment, len(page))
	for i := range page {
		out[i] = page[i].Attachment
	}
	return out, encodeCursor(q, next), nil
}
