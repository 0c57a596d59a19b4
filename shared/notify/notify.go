// Package notify tells a record's owner that its customer wrote: one open
// notification per conversation, counting the messages since the owner last
// opened or dismissed it, which the owner may snooze (a reminder comes back
// later) or dismiss. It also decides the conversation window's schedule: a
// warning before the 24-hour window closes on an unanswered conversation,
// and the close itself.
//
// Everything here follows the table's change stream: a conversation whose
// unread count went up got a new customer message (the inbox counts each
// message exactly once, whatever Meta's retries), and the conversation's
// version orders the changes, so a change seen twice or late changes
// nothing.
package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/schedule"
)

// State of a notification.
type State string

const (
	Active    State = "active"    // showing in the feed and as a popup
	Snoozed   State = "snoozed"   // hidden until its reminder fires
	Dismissed State = "dismissed" // closed; the next message opens a new one
)

// Filter is the feed's ?state= choice.
type Filter string

const (
	FilterActive  Filter = "active"
	FilterSnoozed Filter = "snoozed"
	FilterAll     Filter = "all"
)

// ParseFilter reads ?state= ("" is active).
func ParseFilter(s string) (Filter, error) {
	switch f := Filter(s); f {
	case "":
		return FilterActive, nil
	case FilterActive, FilterSnoozed, FilterAll:
		return f, nil
	}
	return "", apperr.E(apperr.Invalid, "state must be active, snoozed or all.")
}

// Notification is the one notification of a conversation, for the owner of
// its record.
type Notification struct {
	ID             string          `json:"id"`
	Org            string          `json:"org"`
	UserID         string          `json:"userId"` // the owner it is for
	ConversationID string          `json:"conversationId"`
	Record         inbox.RecordRef `json:"record"`
	From           string          `json:"from"`    // who wrote: profile name, else number
	Preview        string          `json:"preview"` // the latest message
	Count          int             `json:"count"`   // messages since last opened or dismissed
	State          State           `json:"state"`
	Read           bool            `json:"read"`
	// Reminder: it came back from a snooze. WindowClosing: the
	// conversation's window closes soon and nobody answered.
	Reminder      bool       `json:"reminder"`
	WindowClosing bool       `json:"windowClosing"`
	SnoozedUntil  *time.Time `json:"snoozedUntil,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`

	// Bookkeeping: the conversation version last applied, its unread count
	// then, the unread count when the owner last opened or dismissed it,
	// how many notifications the conversation has had (for ids), and the
	// window close last warned about.
	ConvVer   int64      `json:"convVer"`
	Unread    int        `json:"unread"`
	Base      int        `json:"base"`
	Seq       int        `json:"seq"`
	WarnedFor *time.Time `json:"warnedFor,omitempty"`
}

// ID returns the id of a conversation's seq-th notification; it names the
// conversation, so a notification is found by its id with one read.
func ID(conversationID string, seq int) string {
	return "ntf_" + strings.TrimPrefix(conversationID, "conv_") + "_" + strconv.Itoa(seq)
}

// ParseID returns the conversation and seq an id names.
func ParseID(id string) (conversationID string, seq int, err error) {
	rest, ok := strings.CutPrefix(id, "ntf_")
	i := strings.LastIndexByte(rest, '_')
	if ok && i > 0 {
		seq, err = strconv.Atoi(rest[i+1:])
		if err == nil && seq > 0 {
			return "conv_" + rest[:i], seq, nil
		}
	}
	return "", 0, apperr.E(apperr.NotFound, "Notification %s not found.", id)
}

// Conversation is a conversation's state as a change carries it, with the
// item's version, which orders changes.
type Conversation struct {
	inbox.Conversation
	Version int64
}

// ApplyConversation folds a conversation's new state into its notification
// (n is zero when the conversation never had one). It reports whether n
// changed. A change older than the last one applied changes nothing.
func ApplyConversation(n *Notification, c *Conversation, now time.Time) bool {
	if c.Version <= n.ConvVer {
		return false
	}
	n.ConvVer = c.Version
	prev := n.Unread
	n.Unread = c.UnreadCount
	switch {
	case c.UnreadCount < prev:
		// Someone opened the conversation: the count starts again.
		n.Base = c.UnreadCount
		if n.State != Dismissed && !n.Read {
			n.Read = true
			n.UpdatedAt = now
		}
		return true
	case c.UnreadCount == prev:
		return false // no new customer message (a reply, an owner change)
	}
	// New customer message(s).
	if n.Seq == 0 || n.State == Dismissed || n.UserID != c.OwnerID {
		// A new notification: the first, one after a dismissal, or one for
		// a new owner, counting from the message(s) that arrived since.
		n.Seq++
		n.ID = ID(c.ID, n.Seq)
		n.Base = prev
		n.State = Active
		n.SnoozedUntil = nil
		n.CreatedAt = now
	}
	n.Org, n.UserID, n.ConversationID, n.Record = c.Org, c.OwnerID, c.ID, c.Record
	n.From = c.Customer.Name
	if n.From == "" {
		n.From = c.Customer.WaID
	}
	n.Preview = c.LastMessagePreview
	n.Count = max(n.Unread-n.Base, 0)
	n.Read = false
	n.Reminder = false
	if n.WarnedFor == nil || c.WindowExpiresAt().After(*n.WarnedFor) {
		n.WindowClosing = false // the message extended the window that was closing
	}
	n.UpdatedAt = now
	return true
}

// Snooze hides n until now + minutes (15 or 60). Snoozing again moves the
// reminder.
func Snooze(n *Notification, minutes int, now time.Time) (time.Time, error) {
	if minutes != 15 && minutes != 60 {
		return time.Time{}, apperr.E(apperr.InvalidSnooze, "minutes must be 15 or 60.")
	}
	if n.State == Dismissed {
		return time.Time{}, apperr.E(apperr.Conflict, "Notification %s is dismissed.", n.ID)
	}
	until := now.Add(time.Duration(minutes) * time.Minute).UTC().Truncate(time.Second) // schedules keep seconds
	n.State, n.SnoozedUntil, n.Read, n.Reminder, n.UpdatedAt = Snoozed, &until, true, false, now
	return until, nil
}

// Dismiss closes n: the count starts again and the next message opens a new
// notification. It reports whether n changed.
func Dismiss(n *Notification, now time.Time) bool {
	if n.State == Dismissed {
		return false
	}
	n.State, n.SnoozedUntil, n.Read, n.Base, n.Count, n.UpdatedAt = Dismissed, nil, true, n.Unread, 0, now
	n.Reminder, n.WindowClosing = false, false
	return true
}

// MarkRead marks n seen in the feed; it reports whether n changed.
func MarkRead(n *Notification, now time.Time) bool {
	if n.Read {
		return false
	}
	n.Read, n.UpdatedAt = true, now
	return true
}

// Remind brings a snoozed notification back when its reminder fires at due.
// It reports false (nothing to do) for a stale firing: the notification was
// dismissed, woken already, or snoozed again to another time. A
// conversation answered since the snooze needs no reminder: n is dismissed.
func Remind(n *Notification, due time.Time, c *inbox.Conversation, now time.Time) bool {
	if n.State != Snoozed || n.SnoozedUntil == nil || !n.SnoozedUntil.Equal(due) {
		return false
	}
	if c != nil && c.UnansweredSince == nil && c.AnsweredAt != nil {
		return Dismiss(n, now)
	}
	n.State, n.SnoozedUntil, n.Reminder, n.Read, n.UpdatedAt = Active, nil, true, false, now
	return true
}

// WarnWindowClosing raises "window closing" on the conversation's
// notification for its owner; the count stays what it is.
func WarnWindowClosing(n *Notification, c *inbox.Conversation, now time.Time) {
	if n.Seq == 0 || n.State == Dismissed || n.UserID != c.OwnerID {
		n.Seq++
		n.ID = ID(c.ID, n.Seq)
		n.Base = n.Unread
		n.Count = 0
		n.CreatedAt = now
	}
	n.Org, n.UserID, n.ConversationID, n.Record = c.Org, c.OwnerID, c.ID, c.Record
	if n.From == "" {
		n.From = c.Customer.Name
		if n.From == "" {
			n.From = c.Customer.WaID
		}
		n.Preview = c.LastMessagePreview
	}
	n.State, n.SnoozedUntil, n.WindowClosing, n.Read, n.UpdatedAt = Active, nil, true, false, now
}

// ReminderName is the deterministic name of a notification's reminder
// schedule: one per conversation, so snoozing again moves it. Schedule
// names are short and plain (EventBridge allows 64 of [0-9A-Za-z_.-]).
func ReminderName(org, conversationID string) string {
	return schedule.Name("remind", org, conversationID)
}
