package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/table"
)

type conversationItem struct {
	table.Keys
	inbox.Conversation
}

// index sets the conversation's keys from its state, so the sparse indexes
// always agree with it.
func (it *conversationItem) index() {
	c := &it.Conversation
	k := conversationKey(c.Org, c.ID)
	ver, ttl := it.Ver, it.TTL
	it.Keys = table.Keys{PK: k.PK, SK: k.SK, Ver: ver, TTL: ttl}
	it.GSI1PK, it.GSI1SK = conversationsByActivityPK(c.Org), tkey(c.LastMessageAt)+"#"+c.ID
	if c.UnansweredSince != nil {
		it.GSI2PK, it.GSI2SK = unansweredPK(c.Org), tkey(*c.UnansweredSince)+"#"+c.ID
	}
	if c.OwnerID != "" {
		it.GSI3PK, it.GSI3SK = byOwnerPK(c.Org, c.OwnerID), tkey(c.LastMessageAt)+"#"+c.ID
	}
	if c.AnsweredBy != "" && c.AnsweredAt != nil {
		it.GSI4PK, it.GSI4SK = byAnswererPK(c.Org, c.AnsweredBy), tkey(*c.AnsweredAt)+"#"+c.ID
	}
}

type messageItem struct {
	table.Keys
	inbox.Message
	// Sending is the send attempt in progress on an outbound message (see
	// outbound.go); it lives on the item so every update keeps it.
	Sending *outbox.Attempt `json:"sending,omitempty"`
}

func newMessageItem(m *inbox.Message) *messageItem {
	it := &messageItem{Message: *m}
	it.PK, it.SK = messagesPK(m.Org, m.ConversationID), messageSK(m.Timestamp, m.ID)
	it.Ver = 1 // versioned from birth, so later updates can be conditional
	return it
}

// wamidItem routes a WhatsApp message id to our message. For inbound
// messages it is the dedup claim; for outbound ones statuses find the
// message through it. Statuses that arrive before we recorded the wamid wait
// on it as Pending.
type wamidItem struct {
	table.Keys
	Org            string               `json:"org,omitempty"`
	ConversationID string               `json:"conversationId,omitempty"`
	MessageSK      string               `json:"messageSk,omitempty"`
	Direction      inbox.Direction      `json:"direction,omitempty"`
	Pending        []inbox.StatusUpdate `json:"pending,omitempty"`
}

// Conversation returns one of org's conversations.
func (s *Store) Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error) {
	var it conversationItem
	if err := s.t.Get(ctx, conversationKey(org, id), &it); err != nil {
		return nil, notFound(err, "conversation", id)
	}
	return &it.Conversation, nil
}

// UpdateConversation changes one conversation with fn, keeping its indexes
// in step.
func (s *Store) UpdateConversation(ctx context.Context, org, id string, fn func(*inbox.Conversation) error) (*inbox.Conversation, error) {
	var it conversationItem
	err := s.update(ctx, conversationKey(org, id), &it, false, func(bool) ([]table.Op, error) {
		if err := fn(&it.Conversation); err != nil {
			return nil, err
		}
		it.Org, it.ID = org, id
		it.index()
		return nil, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, apperr.E(apperr.NotFound, "Conversation %s not found.", id)
	}
	return &it.Conversation, err
}

// SeenMessage implements inbox.InboundStore.
func (s *Store) SeenMessage(ctx context.Context, wamid string) (bool, error) {
	var it wamidItem
	err := s.t.Get(ctx, wamidKey(wamid), &it)
	switch {
	case errors.Is(err, table.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get wamid %s: %w", wamid, err)
	}
	return it.MessageSK != "", nil
}

// SaveInbound implements inbox.InboundStore: the message, its dedup claim
// and the conversation are written in one transaction, so a crash or a
// concurrent duplicate can never store half of it.
func (s *Store) SaveInbound(ctx context.Context, newConv *inbox.Conversation, msg *inbox.Message, apply func(*inbox.Conversation)) (bool, error) {
	mi := newMessageItem(msg)
	claim := &wamidItem{Org: msg.Org, ConversationID: msg.ConversationID, MessageSK: mi.SK, Direction: inbox.Inbound}
	wk := wamidKey(msg.WAMID)
	claim.PK, claim.SK, claim.TTL, claim.Ver = wk.PK, wk.SK, expiresIn(dedupTTL), 1

	var conv conversationItem
	duplicate := false
	err := s.update(ctx, conversationKey(newConv.Org, newConv.ID), &conv, true, func(exists bool) ([]table.Op, error) {
		if !exists {
			conv.Conversation = *newConv
		}
		apply(&conv.Conversation)
		conv.index()
		ops := []table.Op{
			{Put: mi, Cond: table.NotExists()},
			{Put: claim, Cond: table.NotExists()},
		}
		if msg.Media != nil {
			ops = append(ops, table.Op{Put: newAttachmentItem(msg), Cond: table.NotExists()})
		}
		return ops, nil
	})
	if op := table.FailedOp(err); op >= 1 { // the message, its claim or its attachment exists
		duplicate, err = true, nil
	}
	if err != nil {
		return false, fmt.Errorf("save inbound %s: %w", msg.WAMID, err)
	}
	return duplicate, nil
}

// ApplyStatus implements inbox.InboundStore.
func (s *Store) ApplyStatus(ctx context.Context, u inbox.StatusUpdate) (bool, error) {
	var route wamidItem
	err := s.t.Get(ctx, wamidKey(u.WAMID), &route)
	if errors.Is(err, table.ErrNotFound) || (err == nil && route.MessageSK == "") {
		return false, s.keepPending(ctx, u)
	}
	if err != nil {
		return false, fmt.Errorf("get wamid %s: %w", u.WAMID, err)
	}
	if route.Direction != inbox.Outbound {
		return false, nil // statuses only describe our own messages
	}
	return s.applyToMessage(ctx, table.Key{PK: messagesPK(route.Org, route.ConversationID), SK: route.MessageSK}, u)
}

func (s *Store) applyToMessage(ctx context.Context, key table.Key, updates ...inbox.StatusUpdate) (bool, error) {
	var it messageItem
	changed := false
	err := s.update(ctx, key, &it, false, func(bool) ([]table.Op, error) {
		changed = false
		for _, u := range updates {
			changed = mergeStatus(&it.Message, u) || changed
		}
		if !changed {
			return nil, errUnchanged
		}
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("apply status to %s: %w", key, err)
	}
	return true, nil
}

var errUnchanged = errors.New("unchanged")

// mergeStatus folds u into m and reports whether m changed. The status only
// moves up in rank; timestamps and pricing are kept from whichever webhook
// carries them, so a late "sent" still contributes its pricing.
func mergeStatus(m *inbox.Message, u inbox.StatusUpdate) bool {
	changed := false
	if u.Status.Rank() > m.Status.Rank() {
		m.Status, m.StatusAt = u.Status, u.Timestamp
		changed = true
	}
	ts := u.Timestamp
	if (u.Status == inbox.StatusDelivered || u.Status == inbox.StatusRead) && m.Delivered == nil {
		m.Delivered = &ts
		changed = true
	}
	if u.Status == inbox.StatusRead && m.Read == nil {
		m.Read = &ts
		changed = true
	}
	if u.Status == inbox.StatusFailed && len(m.Errors) == 0 && len(u.Errors) > 0 {
		m.Errors = u.Errors
		changed = true
	}
	if u.Pricing != nil && m.Pricing == nil {
		m.Pricing = u.Pricing
		changed = true
	}
	return changed
}

func (s *Store) keepPending(ctx context.Context, u inbox.StatusUpdate) error {
	var it wamidItem
	k := wamidKey(u.WAMID)
	err := s.update(ctx, k, &it, true, func(bool) ([]table.Op, error) {
		it.PK, it.SK = k.PK, k.SK
		if it.MessageSK != "" {
			return nil, errRouted
		}
		it.Pending = append(it.Pending, u)
		it.TTL = expiresIn(pendingTTL)
		return nil, nil
	})
	if errors.Is(err, errRouted) { // the send path recorded it meanwhile
		_, err = s.ApplyStatus(ctx, u)
	}
	if err != nil {
		return fmt.Errorf("keep pending status for %s: %w", u.WAMID, err)
	}
	return nil
}

var errRouted = errors.New("wamid routed")

// Messages returns a page of a conversation's messages, oldest first.
func (s *Store) Messages(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Message, string, error) {
	q := table.Query{PK: messagesPK(org, conversationID), SKPrefix: "MSG#", Limit: limit}
	var err error
	if q.Cursor, err = decodeCursor(q, cursor); err != nil {
		return nil, "", err
	}
	var page []messageItem
	next, err := s.queryPage(ctx, q, &page)
	if err != nil {
		return nil, "", fmt.Errorf("query messages of %s: %w", conversationID, err)
	}
	out := make([]inbox.Message, len(page))
	for i := range page {
		out[i] = page[i].Message
	}
	return out, encodeCursor(q, next), nil
}
