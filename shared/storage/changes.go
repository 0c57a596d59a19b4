package storage

import (
	"fmt"

	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/notify"
)

// Filters that select the changes of one kind of item from the table's
// change stream (see keys.go for the keys they match).
var (
	ConversationChanges = changes.Filter{PKPrefix: "CONV#", SKPrefix: "CONV"}
	MessageChanges      = changes.Filter{PKPrefix: "MSGS#", SKPrefix: "MSG#"}
	NotificationChanges = changes.Filter{PKPrefix: "NOTE#", SKPrefix: "NOTE"}
)

// NotifyChanges are what the notify consumer follows: conversations (new
// messages, reads, moved windows) and notifications (snoozes, dismissals).
var NotifyChanges = []changes.Filter{Written(ConversationChanges), Written(NotificationChanges)}

// PushChanges are what the push consumer turns into live events.
var PushChanges = []changes.Filter{
	{PKPrefix: ConversationChanges.PKPrefix, SKPrefix: ConversationChanges.SKPrefix, Events: []changes.Event{changes.Modify}},
	Written(MessageChanges), Written(NotificationChanges),
}

// Written selects a filter's inserts and modifications (not removals).
func Written(f changes.Filter) changes.Filter {
	f.Events = []changes.Event{changes.Insert, changes.Modify}
	return f
}

// ConversationChange decodes a conversation's change; old or new is nil
// when the item did not exist before or after it.
func ConversationChange(ch changes.Change) (old, new *notify.Conversation, err error) {
	return decodeChange(ch, func(it *conversationItem) *notify.Conversation {
		return &notify.Conversation{Conversation: it.Conversation, Version: it.Ver}
	})
}

// MessageChange decodes a message's change.
func MessageChange(ch changes.Change) (old, new *inbox.Message, err error) {
	return decodeChange(ch, func(it *messageItem) *inbox.Message { return &it.Message })
}

// NotificationChange decodes a notification's change.
func NotificationChange(ch changes.Change) (old, new *notify.Notification, err error) {
	return decodeChange(ch, func(it *notificationItem) *notify.Notification { return &it.Notification })
}

// decodeChange decodes both images of ch into the item type I and returns
// what out makes of them; nil for an image that is absent.
func decodeChange[I any, T any](ch changes.Change, out func(*I) *T) (old, new *T, err error) {
	dec := func(im changes.Image) (*T, error) {
		if len(im) == 0 {
			return nil, nil
		}
		var it I
		if err := im.Decode(&it); err != nil {
			return nil, fmt.Errorf("change of %s: %w", ch.Key, err)
		}
		return out(&it), nil
	}
	if old, err = dec(ch.Old); err == nil {
		new, err = dec(ch.New)
	}
	return old, new, err
}
