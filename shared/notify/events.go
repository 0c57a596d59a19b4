package notify

import (
	"time"

	"context"

	"github.com/wacrm/wacrm/shared/inbox"
)

// EventType names a pushed event.
type EventType string

const (
	NotificationRaised    EventType = "notification.raised"
	NotificationUpdated   EventType = "notification.updated"
	NotificationReminded  EventType = "notification.reminded"
	NotificationDismissed EventType = "notification.dismissed"
	MessageReceived       EventType = "message.received"
	MessageStatus         EventType = "message.status"
	ConversationAnswered  EventType = "conversation.answered"
	ConversationRead      EventType = "conversation.read"
	ConversationClosing   EventType = "conversation.window_closing"
	ConversationClosed    EventType = "conversation.closed"
)

// EventTypes lists every event type (the AsyncAPI document names each).
var EventTypes = []EventType{
	NotificationRaised, NotificationUpdated, NotificationReminded, NotificationDismissed,
	MessageReceived, MessageStatus,
	ConversationAnswered, ConversationRead, ConversationClosing, ConversationClosed,
}

// Event is what the browser receives: a type and the ids it needs to fetch
// what changed. UserID set: only that user's connections get it (their
// notifications); empty: every connection of the org (the conversations
// every user of the org may see).
type Event struct {
	Type           EventType    `json:"type"`
	Org            string       `json:"-"`
	UserID         string       `json:"-"`
	ConversationID string       `json:"conversationId,omitempty"`
	NotificationID string       `json:"notificationId,omitempty"`
	MessageID      string       `json:"messageId,omitempty"`
	Status         inbox.Status `json:"status,omitempty"`
	Count          int          `json:"count,omitempty"`
}

// NotificationEvents are the events of a notification change.
func NotificationEvents(old, new *Notification) []Event {
	if new == nil || new.Seq == 0 {
		return nil
	}
	ev := Event{Org: new.Org, UserID: new.UserID, ConversationID: new.ConversationID, NotificationID: new.ID, Count: new.Count}
	var out []Event
	fresh := old == nil || old.ID != new.ID
	switch {
	case fresh && new.State == Active:
		ev.Type = NotificationRaised
	case new.State == Dismissed && (fresh || old.State != Dismissed):
		ev.Type = NotificationDismissed
	case !fresh && new.Reminder && old.State == Snoozed && new.State == Active:
		ev.Type = NotificationReminded
	case !fresh && (old.Count != new.Count || old.State != new.State || old.Read != new.Read ||
		old.WindowClosing != new.WindowClosing || old.UserID != new.UserID):
		ev.Type = NotificationUpdated
	default:
		return nil
	}
	out = append(out, ev)
	if new.WindowClosing && (fresh || !old.WindowClosing) {
		out = append(out, Event{Type: ConversationClosing, Org: new.Org, ConversationID: new.ConversationID})
	}
	return out
}

// ConversationEvents are the events of a conversation change.
func ConversationEvents(old, new *inbox.Conversation) []Event {
	if new == nil || old == nil {
		return nil
	}
	ev := func(t EventType) Event { return Event{Type: t, Org: new.Org, ConversationID: new.ID} }
	var out []Event
	if old.UnansweredSince != nil && new.UnansweredSince == nil {
		out = append(out, ev(ConversationAnswered))
	}
	if old.UnreadCount > 0 && new.UnreadCount == 0 {
		out = append(out, ev(ConversationRead))
	}
	// The close is pushed while the customer waits: an answered
	// conversation's window ends quietly (its state says so).
	if old.WindowClosedAt == nil && new.WindowClosedAt != nil && new.UnansweredSince != nil {
		out = append(out, ev(ConversationClosed))
	}
	return out
}

// MessageEvents are the events of a message change: a customer's new
// message, and a status of one of ours that moved.
func MessageEvents(old, new *inbox.Message) []Event {
	if new == nil {
		return nil
	}
	ev := Event{Org: new.Org, ConversationID: new.ConversationID, MessageID: new.ID, Status: new.Status}
	switch {
	case old == nil && new.Direction == inbox.Inbound:
		ev.Type = MessageReceived
	case old != nil && new.Direction == inbox.Outbound && old.Status != new.Status:
		ev.Type = MessageStatus
	default:
		return nil
	}
	return []Event{ev}
}

// Pusher delivers events to the open sockets of the users they concern.
type Pusher interface {
	Push(ctx context.Context, events []Event) error
}

// Connection is a browser's open socket on the API Gateway WebSocket API,
// kept in the table while it is open (at most ConnectionTTL).
type Connection struct {
	ID          string    `json:"connectionId"`
	Org         string    `json:"org"`
	UserID      string    `json:"userId"`
	ConnectedAt time.Time `json:"connectedAt"`
}

// ConnectionTTL is API Gateway's longest WebSocket connection (2 hours):
// an item older than that is a socket that closed without a $disconnect.
const ConnectionTTL = 2 * time.Hour
