package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/table"
)

// Outbound messages: a reply is stored as queued with its conversation's
// answered state (PutOutbound), carries a send attempt while the send path
// calls WhatsApp (UpdateSendAttempt), and ends sent under a wamid
// (RecordSent) or failed (FailOutbound). Statuses that arrive before
// RecordSent wait as pending on the wamid item and are applied by it.

func outboundKey(org, conversationID string, ts time.Time, id string) table.Key {
	return table.Key{PK: messagesPK(org, conversationID), SK: messageSK(ts, id)}
}

type idempotencyItem struct {
	table.Keys
	MessageKey  table.Key `json:"messageKey"`
	RequestHash string    `json:"requestHash,omitempty"`
}

// PutOutbound stores a new outbound message (status queued) and folds the
// reply into its conversation with apply, atomically. The idempotency key,
// when given, is stored with requestHash; when it was used before, nothing
// is stored and the first message and its request's hash are returned
// (whether they match is the caller's rule). An unknown conversation is
// apperr.NotFound; apply's errors are returned as they are, with nothing
// stored.
func (s *Store) PutOutbound(ctx context.Context, msg *inbox.Message, idemKey, requestHash string, apply func(*inbox.Conversation) error) (*inbox.Message, string, error) {
	mi := newMessageItem(msg)
	var extra []table.Op
	if idemKey != "" {
		idem := &idempotencyItem{MessageKey: table.Key{PK: mi.PK, SK: mi.SK}, RequestHash: requestHash}
		k := idempotencyKey(msg.Org, msg.SentBy, idemKey)
		idem.PK, idem.SK, idem.TTL = k.PK, k.SK, expiresIn(idempotencyTTL)
		extra = append(extra, table.Op{Put: idem, Cond: table.NotExists()})
	}
	var conv conversationItem
	err := s.update(ctx, conversationKey(msg.Org, msg.ConversationID), &conv, false, func(bool) ([]table.Op, error) {
		if err := apply(&conv.Conversation); err != nil {
			return nil, err
		}
		conv.index()
		return append([]table.Op{{Put: mi, Cond: table.NotExists()}}, extra...), nil
	})
	if table.FailedOp(err) == 2 { // the idempotency key was used before
		prev, prevHash, gerr := s.OutboundByIdempotencyKey(ctx, msg.Org, msg.SentBy, idemKey)
		if gerr != nil {
			return nil, "", fmt.Errorf("read earlier reply: %w", gerr)
		}
		return prev, prevHash, nil
	}
	if apperr.Is(err, apperr.NotFound) {
		return nil, "", apperr.E(apperr.NotFound, "Conversation %s not found.", msg.ConversationID)
	}
	if err != nil {
		return nil, "", fmt.Errorf("put outbound %s: %w", msg.ID, err)
	}
	return msg, requestHash, nil
}

// OutboundByIdempotencyKey returns the reply user stored under key, in its
// current state, and the hash of the request that stored it;
// apperr.NotFound when the key is unused or expired.
func (s *Store) OutboundByIdempotencyKey(ctx context.Context, org, user, key string) (*inbox.Message, string, error) {
	var idem idempotencyItem
	err := s.t.Get(ctx, idempotencyKey(org, user, key), &idem)
	if errors.Is(err, table.ErrNotFound) {
		return nil, "", apperr.Wrap(err, apperr.NotFound, "The Idempotency-Key has not been used.")
	}
	if err != nil {
		return nil, "", fmt.Errorf("get idempotency key: %w", err)
	}
	var it messageItem
	if err := s.t.Get(ctx, idem.MessageKey, &it); err != nil {
		return nil, "", fmt.Errorf("get reply of idempotency key: %w", err)
	}
	return &it.Message, idem.RequestHash, nil
}

// Message returns one message of a conversation; apperr.NotFound when absent.
func (s *Store) Message(ctx context.Context, org, conversationID string, ts time.Time, id string) (*inbox.Message, error) {
	var it messageItem
	if err := s.t.Get(ctx, outboundKey(org, conversationID, ts, id), &it); err != nil {
		return nil, notFound(err, "message", id)
	}
	return &it.Message, nil
}

// UpdateSendAttempt implements outbox.SendStore: fn sees the message and
// its attempt and returns the attempt to keep (nil clears it) or an error
// that changes nothing and is returned as it is.
func (s *Store) UpdateSendAttempt(ctx context.Context, org, conversationID string, ts time.Time, id string, fn func(*inbox.Message, *outbox.Attempt) (*outbox.Attempt, error)) error {
	var it messageItem
	err := s.update(ctx, outboundKey(org, conversationID, ts, id), &it, false, func(bool) ([]table.Op, error) {
		next, err := fn(&it.Message, it.Sending)
		if err != nil {
			return nil, err
		}
		it.Sending = next
		return nil, nil
	})
	if apperr.Is(err, apperr.NotFound) {
		return apperr.E(apperr.NotFound, "Message %s not found.", id)
	}
	return err
}

// RecordSent marks an outbound message as accepted by WhatsApp under wamid,
// routes the wamid to it, clears its send attempt, and applies statuses
// that arrived early. A failure recorded before (a send judged in doubt) is
// undone: the wamid proves WhatsApp took the message.
func (s *Store) RecordSent(ctx context.Context, org, conversationID string, ts time.Time, id, wamid string, sentAt time.Time) error {
	key := outboundKey(org, conversationID, ts, id)
	var route wamidItem
	var pending []inbox.StatusUpdate
	wk := wamidKey(wamid)
	err := s.update(ctx, wk, &route, true, func(bool) ([]table.Op, error) {
		pending = route.Pending
		route.Keys = table.Keys{PK: wk.PK, SK: wk.SK, Ver: route.Ver}
		route.Org, route.ConversationID, route.MessageSK, route.Direction = org, conversationID, key.SK, inbox.Outbound
		route.Pending = nil
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("route wamid %s: %w", wamid, err)
	}
	var it messageItem
	err = s.update(ctx, key, &it, false, func(bool) ([]table.Op, error) {
		if it.WAMID == "" && it.Status == inbox.StatusFailed {
			it.Status, it.Errors = inbox.StatusQueued, nil
		}
		it.WAMID = wamid
		it.Sending = nil
		mergeStatus(&it.Message, inbox.StatusUpdate{WAMID: wamid, Status: inbox.StatusSent, Timestamp: sentAt})
		for _, u := range pending {
			mergeStatus(&it.Message, u)
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("record sent %s: %w", id, err)
	}
	return nil
}

// FailOutbound marks an outbound message as failed before WhatsApp took it
// and clears its send attempt. A message that has a wamid is left alone:
// WhatsApp took it, and its statuses tell the rest.
func (s *Store) FailOutbound(ctx context.Context, org, conversationID string, ts time.Time, id string, at time.Time, reason inbox.MessageError) error {
	var it messageItem
	err := s.update(ctx, outboundKey(org, conversationID, ts, id), &it, false, func(bool) ([]table.Op, error) {
		if it.WAMID != "" {
			return nil, errUnchanged
		}
		it.Sending = nil
		mergeStatus(&it.Message, inbox.StatusUpdate{Status: inbox.StatusFailed, Timestamp: at, Errors: []inbox.MessageError{reason}})
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fail outbound %s: %w", id, err)
	}
	return nil
}
