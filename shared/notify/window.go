package notify

import (
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/schedule"
)

// DefaultWindowWarning is how long before the window closes the owner of an
// unanswered conversation is warned, unless the org set another lead.
const DefaultWindowWarning = time.Hour

// Settings are an org's notification settings.
type Settings struct {
	// WindowWarningMinutes before the window closes, the owner of an
	// unanswered conversation is warned; 0 turns the warning off; nil is
	// the default (60).
	WindowWarningMinutes *int `json:"windowWarningMinutes"`
}

// maxWindowWarning keeps the warning inside the window.
const maxWindowWarning = 23 * 60

// Validate checks the settings.
func (s Settings) Validate() error {
	if m := s.WindowWarningMinutes; m != nil && (*m < 0 || *m > maxWindowWarning) {
		return apperr.E(apperr.Invalid, "windowWarningMinutes must be from 0 to %d.", maxWindowWarning)
	}
	return nil
}

// WindowWarning is the warning's lead time.
func (s Settings) WindowWarning() time.Duration {
	if s.WindowWarningMinutes == nil {
		return DefaultWindowWarning
	}
	return time.Duration(*s.WindowWarningMinutes) * time.Minute
}

// Kind of a schedule firing.
type Kind string

const (
	KindReminder Kind = "notify.remind"
	KindWindow   Kind = "notify.window"
)

// Phase of a window schedule: it fires first to warn, then to close.
type Phase string

const (
	PhaseWarn  Phase = "warn"
	PhaseClose Phase = "close"
)

// Firing is the data of notify's schedules: what a schedule is about.
// Kind and At come from the schedule itself; a window's schedule also
// carries the close it is about. A firing that no longer matches the
// current state (the snooze moved, the window was extended) is stale.
type Firing struct {
	Kind           Kind      `json:"-"`
	At             time.Time `json:"-"` // what the schedule was set for
	Org            string    `json:"org"`
	ConversationID string    `json:"conversationId"`
	Phase          Phase     `json:"phase,omitempty"`
	ClosesAt       time.Time `json:"closesAt,omitzero"`
}

// sameSecond compares times as schedules keep them, to the second.
func sameSecond(a, b time.Time) bool {
	return schedule.Firing{At: a}.Current(b)
}

// WindowName is the deterministic name of a conversation's window schedule:
// one per conversation, moved by each customer message.
func WindowName(org, conversationID string) string {
	return schedule.Name("window", org, conversationID)
}

// NextWindowFiring is when the window schedule of c fires next: at the
// warning time (or now, if that passed) while the window is open, else at
// the close. ok is false when
// the customer never wrote.
func NextWindowFiring(c *inbox.Conversation, warning time.Duration, now time.Time) (f Firing, when time.Time, ok bool) {
	closes := c.WindowExpiresAt()
	if closes.IsZero() {
		return Firing{}, time.Time{}, false
	}
	f = Firing{Kind: KindWindow, Org: c.Org, ConversationID: c.ID, ClosesAt: closes.UTC(), Phase: PhaseClose}
	when = closes
	if warning > 0 && now.Before(closes) {
		// Warn at the lead time, or at once when that has passed (the
		// schedule was set late): the owner still has until the close.
		f.Phase, when = PhaseWarn, closes.Add(-warning)
		if when.Before(now) {
			when = now
		}
	}
	return f, when.UTC(), true
}
