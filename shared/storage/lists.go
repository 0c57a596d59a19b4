package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

// maxPagesPerList bounds how many index pages one list call reads while
// filtering, so a selective filter costs at most this many reads of a page.
const maxPagesPerList = 8

// Conversations lists an org's conversations matching f. It picks the index
// whose key answers the most selective condition and filters the rest, so
// it reads in proportion to the page (at most maxPagesPerList pages).
func (s *Store) Conversations(ctx context.Context, org string, f inbox.Filter, now time.Time) ([]inbox.Conversation, string, error) {
	q := table.Query{Limit: f.Limit}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 50
	}
	from := func(d time.Duration) string {
		if d <= 0 {
			return ""
		}
		return tkey(now.Add(-d))
	}
	switch {
	case f.AnsweredBy != "":
		q.Index, q.PK, q.Descending = table.GSI4, byAnswererPK(org, f.AnsweredBy), true
		q.SKFrom = from(f.AnsweredWithin)
	case f.Unanswered:
		// Longest waiting first.
		q.Index, q.PK = table.GSI2, unansweredPK(org)
		q.SKFrom = from(f.UnansweredWithin)
	case f.Owner != "":
		q.Index, q.PK, q.Descending = table.GSI3, byOwnerPK(org, f.Owner), true
		q.SKFrom = from(max(f.MessageWithin, f.AnsweredWithin))
	default:
		q.Index, q.PK, q.Descending = table.GSI1, conversationsByActivityPK(org), true
		q.SKFrom = from(max(f.MessageWithin, f.AnsweredWithin))
	}
	cursor, err := decodeCursor(q, f.Cursor)
	if err != nil {
		return nil, "", err
	}
	want := q.Limit
	var out []inbox.Conversation
	for range maxPagesPerList {
		q.Cursor = cursor
		q.Limit = want - len(out)
		var page []conversationItem
		next, err := s.queryPage(ctx, q, &page)
		if err != nil {
			return nil, "", fmt.Errorf("query conversations of %s: %w", org, err)
		}
		for i := range page {
			if f.Match(&page[i].Conversation, now) {
				out = append(out, page[i].Conversation)
			}
		}
		cursor = next
		if cursor == "" || len(out) >= want {
			break
		}
	}
	return out, encodeCursor(q, cursor), nil
}
