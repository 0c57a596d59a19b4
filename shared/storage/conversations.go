package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
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
	Sending *inbox.SendAttempt `json:"sending,omitempty"`
}

// indexBilled lists an outbound message under its org's billed messages
// once Meta reported its pricing, for the usage report.
func (it *messageItem) indexBilled() {
	if it.Direction == inbox.Outbound && it.Pricing != nil && it.GSI1PK == "" {
		it.GSI1PK, it.GSI1SK = billedPK(it.Org), tkey(it.Timestamp)+"#"+it.ID
	}
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

// SeenMessage implements inbox.InboundStore: whether org stored the
// message wamid (another org's copy does not count).
func (s *Store) SeenMessage(ctx context.Context, org, wamid string) (bool, error) {
	var it wamidItem
	err := s.t.Get(ctx, wamidKey(org, wamid), &it)
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
//
// The claim shares its key with statuses waiting for an outbound wamid. WhatsApp
// never gives an inbound message the wamid of an outbound one, but should
// a status name an inbound wamid before the message arrives, the waiting
// record holds no message: the message takes the key over (statuses never
// describe inbound messages, so nothing of ours waited there) instead of
// being dropped as a duplicate. Only that rare path reads the claim.
func (s *Store) SaveInbound(ctx context.Context, newConv *inbox.Conversation, msg *inbox.Message, apply func(*inbox.Conversation)) (bool, error) {
	mi := newMessageItem(msg)
	wk := wamidKey(msg.Org, msg.WAMID)
	claimCond := table.NotExists()
	for range maxAttempts {
		claim := &wamidItem{Org: msg.Org, ConversationID: msg.ConversationID, MessageSK: mi.SK, Direction: inbox.Inbound}
		claim.PK, claim.SK, claim.TTL, claim.Ver = wk.PK, wk.SK, expiresIn(dedupTTL), claimCond.N+1
		var conv conversationItem
		err := s.update(ctx, conversationKey(newConv.Org, newConv.ID), &conv, true, func(exists bool) ([]table.Op, error) {
			if !exists {
				conv.Conversation = *newConv
			}
			apply(&conv.Conversation)
			conv.index()
			ops := []table.Op{
				{Put: mi, Cond: table.NotExists()},
				{Put: claim, Cond: claimCond},
			}
			if msg.Media != nil {
				ops = append(ops, table.Op{Put: newAttachmentItem(msg), Cond: table.NotExists()})
			}
			return ops, nil
		})
		switch op := table.FailedOp(err); {
		case op == 2: // the claim: a duplicate, or statuses waiting on the wamid
			var held wamidItem
			gerr := s.t.Get(ctx, wk, &held)
			switch {
			case errors.Is(gerr, table.ErrNotFound):
				claimCond = table.NotExists() // expired meanwhile
				continue
			case gerr != nil:
				return false, fmt.Errorf("save inbound %s: get its claim: %w", msg.WAMID, gerr)
			case held.MessageSK != "":
				return true, nil
			}
			claimCond = table.Version(held.Ver)
			continue
		case op >= 1: // the message or its attachment exists
			return true, nil
		case err != nil:
			return false, fmt.Errorf("save inbound %s: %w", msg.WAMID, err)
		}
		return false, nil
	}
	return false, fmt.Errorf("save inbound %s: too much contention on its claim", msg.WAMID)
}

// ApplyStatus implements inbox.InboundStore. The status is looked for in
// org only: by ref (our biz_opaque_callback_data, echoed by WhatsApp),
// which finds the message even when its wamid was never recorded, else by
// the wamid's route. A status for a wamid nothing routes waits on the
// route for RecordSent.
func (s *Store) ApplyStatus(ctx context.Context, org string, ref *inbox.MessageRef, u inbox.StatusUpdate) (bool, error) {
	if ref != nil {
		applied, err := s.applyByRef(ctx, org, *ref, u)
		if !errors.Is(err, errNoMatch) {
			return applied, err
		}
	}
	return s.applyByWamid(ctx, org, u)
}

// errNoMatch: the message a status names is not there, or is not the
// wamid's; the status is matched by its wamid instead.
var errNoMatch = errors.New("no message matches the status")

func (s *Store) applyByRef(ctx context.Context, org string, ref inbox.MessageRef, u inbox.StatusUpdate) (bool, error) {
	key := outboundKey(org, ref.ConversationID, ref.Timestamp, ref.ID)
	err := s.changeMessage(ctx, key, func(it *messageItem) ([]table.Op, error) {
		if it.Direction != inbox.Outbound || (it.WAMID != "" && it.WAMID != u.WAMID) {
			return nil, errNoMatch
		}
		var extra []table.Op
		updates := []inbox.StatusUpdate{u}
		if it.WAMID == "" {
			// WhatsApp's first word of this message: route its wamid here
			// and take the statuses that waited, in the same write.
			pending, route, err := s.route(ctx, org, ref.ConversationID, u.WAMID, key)
			if err != nil {
				return nil, err
			}
			updates = append(updates, pending...)
			extra = route
		}
		changed := false
		for _, u := range updates {
			changed = it.ApplyStatus(u) || changed
		}
		if !changed && len(extra) == 0 {
			return nil, errUnchanged
		}
		it.indexBilled()
		return extra, nil
	})
	switch {
	case apperr.Is(err, apperr.NotFound):
		return false, errNoMatch
	case errors.Is(err, errUnchanged):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

func (s *Store) applyByWamid(ctx context.Context, org string, u inbox.StatusUpdate) (bool, error) {
	var route wamidItem
	err := s.t.Get(ctx, wamidKey(org, u.WAMID), &route)
	if errors.Is(err, table.ErrNotFound) || (err == nil && route.MessageSK == "") {
		return false, s.keepPending(ctx, org, u)
	}
	if err != nil {
		return false, fmt.Errorf("get wamid %s: %w", u.WAMID, err)
	}
	if route.Direction != inbox.Outbound {
		return false, nil // statuses only describe our own messages
	}
	key := table.Key{PK: messagesPK(route.Org, route.ConversationID), SK: route.MessageSK}
	err = s.changeMessage(ctx, key, func(it *messageItem) ([]table.Op, error) {
		if !it.ApplyStatus(u) {
			return nil, errUnchanged
		}
		it.indexBilled()
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

// route reads the route of org's wamid and returns the statuses waiting
// on it and the write that routes it to the message at key (none when it
// routes there already). A wamid routed to another message is an error.
func (s *Store) route(ctx context.Context, org, conversationID, wamid string, key table.Key) ([]inbox.StatusUpdate, []table.Op, error) {
	var it wamidItem
	wk := wamidKey(org, wamid)
	err := s.t.Get(ctx, wk, &it)
	if err != nil && !errors.Is(err, table.ErrNotFound) {
		return nil, nil, fmt.Errorf("get wamid %s: %w", wamid, err)
	}
	if it.MessageSK == key.SK && len(it.Pending) == 0 {
		return nil, nil, nil
	}
	if it.MessageSK != "" {
		return nil, nil, fmt.Errorf("wamid %s routes to message %s, not %s", wamid, it.MessageSK, key.SK)
	}
	pending := it.Pending
	ver := it.Ver
	it = wamidItem{Org: org, ConversationID: conversationID, MessageSK: key.SK, Direction: inbox.Outbound}
	it.PK, it.SK, it.Ver = wk.PK, wk.SK, ver+1
	return pending, []table.Op{{Put: &it, Cond: table.Version(ver)}}, nil
}

// changeMessage changes the message at key with change (the domain's
// rule; errUnchanged writes nothing) and writes it, with the ops change
// returns, in one transaction. When the change makes the message start or
// stop answering its customer (a reply failed, or proved sent after all),
// the conversation's answered state follows in the same transaction. It
// reads again and retries when anything it read changed meanwhile.
func (s *Store) changeMessage(ctx context.Context, key table.Key, change func(it *messageItem) ([]table.Op, error)) error {
	for range maxAttempts {
		var it messageItem
		if err := s.t.Get(ctx, key, &it); err != nil {
			return notFound(err, "message", key.SK)
		}
		answered, ver := it.Answers(), it.Ver
		extra, err := change(&it)
		if err != nil {
			return err
		}
		it.Ver = ver + 1
		ops := append([]table.Op{{Put: &it, Cond: table.Version(ver)}}, extra...)
		if it.Answers() != answered {
			op, err := s.reanswer(ctx, &it.Message)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		err = s.t.Write(ctx, ops...)
		if table.FailedOp(err) >= 0 || errors.Is(err, table.ErrConflict) {
			continue // something we read changed: read again
		}
		return err
	}
	return fmt.Errorf("change message %s: too much contention", key)
}

// reanswer returns the write that gives m's conversation the answered
// state its messages leave it in, m as changed: it reads them newest first
// down to the latest reply that answers.
func (s *Store) reanswer(ctx context.Context, m *inbox.Message) (table.Op, error) {
	var conv conversationItem
	if err := s.t.Get(ctx, conversationKey(m.Org, m.ConversationID), &conv); err != nil {
		return table.Op{}, fmt.Errorf("get conversation of %s: %w", m.ID, err)
	}
	var scan inbox.AnswerScan
	q := table.Query{PK: messagesPK(m.Org, m.ConversationID), SKPrefix: "MSG#", Descending: true, Limit: 50}
	for done := false; !done; {
		var page []messageItem
		next, err := s.t.Query(ctx, q, &page)
		if err != nil {
			return table.Op{}, fmt.Errorf("query messages of %s: %w", m.ConversationID, err)
		}
		for i := range page {
			msg := &page[i].Message
			if msg.ID == m.ID {
				msg = m
			}
			if done = scan.Add(msg); done {
				break
			}
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	conv.SetAnswered(&scan)
	ver := conv.Ver
	conv.index()
	conv.Ver = ver + 1
	return table.Op{Put: &conv, Cond: table.Version(ver)}, nil
}

func (s *Store) keepPending(ctx context.Context, org string, u inbox.StatusUpdate) error {
	var it wamidItem
	k := wamidKey(org, u.WAMID)
	err := s.update(ctx, k, &it, true, func(bool) ([]table.Op, error) {
		it.PK, it.SK = k.PK, k.SK
		if it.MessageSK != "" {
			return nil, errRouted
		}
		it.Pending = append(it.Pending, u)
		it.TTL = expiresIn(pendingTTL)
		return nil, nil
	})
	if errors.Is(err, errRouted) { // routed meanwhile
		_, err = s.applyByWamid(ctx, org, u)
	}
	if err != nil {
		return fmt.Errorf("keep pending status for %s: %w", u.WAMID, err)
	}
	return nil
}

var errRouted = errors.New("wamid routed")

// Messages returns a page of a conversation's messages, oldest first.
func (s *Store) Messages(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Message, string, error) {
	return s.messages(ctx, org, conversationID, cursor, limit, false)
}

// MessagesNewestFirst pages a conversation's messages from the newest back:
// the conversation view opens on its latest page with one page's read, however
// long the conversation.
func (s *Store) MessagesNewestFirst(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Message, string, error) {
	return s.messages(ctx, org, conversationID, cursor, limit, true)
}

func (s *Store) messages(ctx context.Context, org, conversationID, cursor string, limit int, newestFirst bool) ([]inbox.Message, string, error) {
	q := table.Query{PK: messagesPK(org, conversationID), SKPrefix: "MSG#", Limit: limit, Descending: newestFirst}
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
