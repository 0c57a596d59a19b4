// Package billingstream is billing's consumer of the table's change stream:
// auto-recharge and refunds follow the writes that make them due (a charge
// marking a crossing of the minimum, a reply failing for good) instead of
// being a second write on the request path. It runs in the local stack's
// Runner and as the recharge function on AWS.
package billingstream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/inbox"
)

// Name is the consumer's name (its position in the stream; keep it).
const Name = "recharge"

// Item keys the consumer reads (storage's key layout: an org's billing
// account is BILL#<org>/ACCOUNT, a message MSGS#<org>#<conversation>/MSG#...).
const (
	accountPK = "BILL#"
	accountSK = "ACCOUNT"
	messagePK = "MSGS#"
	messageSK = "MSG#"
)

// Filters select account changes (a crossing marked) and message changes
// (a reply failing); the same values become the Lambda mapping's criteria.
var Filters = []changes.Filter{
	{PKPrefix: accountPK, SKPrefix: accountSK, Events: []changes.Event{changes.Insert, changes.Modify}},
	{PKPrefix: messagePK, SKPrefix: messageSK, Events: []changes.Event{changes.Modify}},
}

// Recharger pays the recharge due for a crossing (billing.Service).
type Recharger interface {
	Recharge(ctx context.Context, org string, crossing int64) error
}

// Refunder gives back a failed reply's charge once (storage.Store).
type Refunder interface {
	RefundMessage(ctx context.Context, org, conversationID string, ts time.Time, id string, now time.Time) (bool, error)
}

// Consumer returns the change consumer. Both calls are idempotent (the
// recharge's payment key is derived from the crossing; the refund is
// conditional on the message not refunded yet), so a change handled twice
// pays and refunds once. Its own writes come back as changes it skips: a
// payment record leaves the crossing as it was, a refunded message is not
// refunded again.
func Consumer(r Recharger, f Refunder, log *slog.Logger, now func() time.Time) changes.Consumer {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	h := &handler{recharger: r, refunder: f, log: log, now: now}
	return changes.Consumer{Name: Name, Filters: Filters, Handle: h.handle}
}

type handler struct {
	recharger Recharger
	refunder  Refunder
	log       *slog.Logger
	now       func() time.Time
}

func (h *handler) handle(ctx context.Context, ch changes.Change) error {
	if !changes.MatchAny(Filters, ch) {
		return nil // selected by the stream's filters already; a test or a replay may pass others
	}
	switch {
	case strings.HasPrefix(ch.Key.PK, accountPK) && ch.Key.SK == accountSK:
		return h.account(ctx, ch)
	case strings.HasPrefix(ch.Key.PK, messagePK) && strings.HasPrefix(ch.Key.SK, messageSK):
		return h.message(ctx, ch)
	}
	return nil
}

// account recharges once per crossing the change marked due.
func (h *handler) account(ctx context.Context, ch changes.Change) error {
	if ch.Event == changes.Remove {
		return nil
	}
	var old *billing.Account
	if len(ch.Old) > 0 {
		old = new(billing.Account)
		if err := ch.Old.Decode(old); err != nil {
			return err
		}
	}
	var cur billing.Account
	if err := ch.New.Decode(&cur); err != nil {
		return err
	}
	crossing, due := billing.RechargeDue(old, &cur)
	if !due {
		return nil
	}
	org := strings.TrimPrefix(ch.Key.PK, accountPK)
	if err := h.recharger.Recharge(ctx, org, crossing); err != nil {
		return fmt.Errorf("recharge of crossing %d: %w", crossing, err)
	}
	return nil
}

// message refunds a charged reply that failed for good and was not
// refunded yet.
func (h *handler) message(ctx context.Context, ch changes.Change) error {
	if ch.Event == changes.Remove {
		return nil
	}
	var m inbox.Message
	if err := ch.New.Decode(&m); err != nil {
		return err
	}
	if m.Direction != inbox.Outbound || m.Status != inbox.StatusFailed || m.Charge == nil || m.Charge.Credits == 0 || m.Charge.Refunded {
		return nil
	}
	refunded, err := h.refunder.RefundMessage(ctx, m.Org, m.ConversationID, m.Timestamp, m.ID, h.now())
	if err != nil {
		return fmt.Errorf("refund of message %s/%s: %w", m.ConversationID, m.ID, err)
	}
	if refunded {
		h.log.InfoContext(ctx, "failed reply refunded", "org", m.Org, "conversation", m.ConversationID, "message", m.ID, "credits", m.Charge.Credits)
	}
	return nil
}
