package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/table"
)

// Outbound messages: a reply is stored as queued with its conversation's
// answered state (PutOutbound), carries a send attempt while the send path
// calls WhatsApp (UpdateSendAttempt), and ends sent under a wamid
// (RecordSent) or failed (FailOutbound). How a message's status changes is
// inbox's rule; this file only reads and writes. Statuses that arrive
// before RecordSent find the message by the reference the send path gave
// WhatsApp, or wait on the wamid's route for RecordSent.

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
	return s.PutCharged(ctx, msg, idemKey, requestHash, apply, nil)
}

// PutCharged is PutOutbound with a charge: charge sees the org's account
// (read for this attempt), the conversation as apply left it, and the
// message, and may debit the account (see outbox.ChargeReply). The account
// and its ledger entries are written in the same transaction as the
// message, so a reply is queued if and only if it was paid for. charge's
// errors (billing's 402) are returned as they are, nothing stored.
func (s *Store) PutCharged(ctx context.Context, msg *inbox.Message, idemKey, requestHash string, apply func(*inbox.Conversation) error,
	charge func(*billing.Account, *inbox.Conversation, *inbox.Message) error) (*inbox.Message, string, error) {
	var idem *idempotencyItem
	if idemKey != "" {
		idem = &idempotencyItem{MessageKey: outboundKey(msg.Org, msg.ConversationID, msg.Timestamp, msg.ID), RequestHash: requestHash}
		k := idempotencyKey(msg.Org, msg.SentBy, idemKey)
		idem.PK, idem.SK, idem.TTL = k.PK, k.SK, expiresIn(idempotencyTTL)
	}
	const idemOp = 2 // after the conversation (0) and the message (1)
	turn := ""
	if charge != nil {
		turn = msg.Org
	}
	var conv conversationItem
	err := s.contended(ctx, turn, "put outbound", func() error {
		accountOp := -1
		err := s.update(ctx, conversationKey(msg.Org, msg.ConversationID), &conv, false, func(bool) ([]table.Op, error) {
			if err := apply(&conv.Conversation); err != nil {
				return nil, err
			}
			var acctOps []table.Op
			if charge != nil {
				var err error
				acctOps, err = s.chargeOps(ctx, msg.Org, func(a *billing.Account) error {
					return charge(a, &conv.Conversation, msg)
				})
				if err != nil {
					return nil, err
				}
			}
			conv.index()
			ops := []table.Op{{Put: newMessageItem(msg), Cond: table.NotExists()}}
			if idem != nil {
				ops = append(ops, table.Op{Put: idem, Cond: table.NotExists()})
			}
			if len(acctOps) > 0 {
				accountOp = len(ops) + 1
			}
			return append(ops, acctOps...), nil
		})
		if accountOp > 0 && table.FailedOp(err) == accountOp {
			return errAccountMoved
		}
		return err
	})
	if idem != nil && table.FailedOp(err) == idemOp { // the idempotency key was used before
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
func (s *Store) UpdateSendAttempt(ctx context.Context, org, conversationID string, ts time.Time, id string, fn func(*inbox.Message, *inbox.SendAttempt) (*inbox.SendAttempt, error)) error {
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

// RecordSent records that WhatsApp accepted an outbound message under
// wamid (inbox.Message.RecordSent), clears its send attempt, routes the
// wamid to it and applies the statuses that waited for the route, all in
// one write: a status that lands meanwhile makes it read everything again,
// and a crash leaves either all of it or none. An empty wamid records the
// message as sent with nothing to route (the send path's answer to a wamid
// outside the id alphabet); any other invalid one is refused.
func (s *Store) RecordSent(ctx context.Context, org, conversationID string, ts time.Time, id, wamid string, sentAt time.Time) error {
	if wamid != "" {
		if err := ids.Check("wamid", wamid); err != nil {
			return fmt.Errorf("record sent %s: %w", id, err)
		}
	}
	key := outboundKey(org, conversationID, ts, id)
	err := s.changeMessage(ctx, key, func(it *messageItem) ([]table.Op, error) {
		var pending []inbox.StatusUpdate
		var route []table.Op
		if wamid != "" {
			var err error
			if pending, route, err = s.route(ctx, org, conversationID, wamid, key); err != nil {
				return nil, err
			}
		}
		changed, err := it.RecordSent(wamid, sentAt)
		if err != nil {
			return nil, err
		}
		for _, u := range pending {
			changed = it.ApplyStatus(u) || changed
		}
		if !changed && it.Sending == nil && len(route) == 0 {
			return nil, errUnchanged
		}
		it.indexBilled()
		it.Sending = nil
		return route, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record sent %s: %w", id, err)
	}
	return nil
}

// FailOutbound records that the send path gave up on an outbound message
// (inbox.Message.FailSend) and clears its send attempt. A failed reply no
// longer answers its conversation, which falls back to unanswered in the
// same write.
func (s *Store) FailOutbound(ctx context.Context, org, conversationID string, ts time.Time, id string, at time.Time, reason inbox.MessageError) error {
	err := s.changeMessage(ctx, outboundKey(org, conversationID, ts, id), func(it *messageItem) ([]table.Op, error) {
		if !it.FailSend(at, reason) {
			return nil, errUnchanged
		}
		it.Sending = nil
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
