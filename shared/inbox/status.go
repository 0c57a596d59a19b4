package inbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The status rules of an outbound message live here, in one place: the
// send path (RecordSent, FailSend) and WhatsApp's status webhooks
// (ApplyStatus) change a message only through them, whatever order they
// come in.
//
// A message without a wamid has never been heard of from WhatsApp: a
// failure recorded then is the send path's own judgement (refused, or in
// doubt after a crash) and WhatsApp's word (a wamid from the send call, or
// any status webhook) overrides it. A failure WhatsApp reports is final,
// except that read proves delivery and overtakes it. A failure a later
// status overtook stays in the message's History.

// StatusChange is a past state of a message that a later one replaced.
type StatusChange struct {
	Status Status         `json:"status"`
	At     time.Time      `json:"at"`
	Errors []MessageError `json:"errors,omitempty"`
}

// SendAttempt is a send in progress, written on an outbound message before
// the Graph API is called and cleared when the outcome is recorded. Finding
// one that nobody cleared means a sender stopped between calling WhatsApp
// and recording the answer: the message may or may not have gone out.
type SendAttempt struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
}

// Answers reports whether m answers the customer: a reply that has not
// failed (queued ones count: the user answered and it is on its way).
func (m *Message) Answers() bool {
	return m.Direction == Outbound && m.Status != StatusFailed
}

// RecordSent records that WhatsApp accepted m under wamid at at. It
// reports whether m changed; a wamid other than the one m already has is
// refused.
func (m *Message) RecordSent(wamid string, at time.Time) (bool, error) {
	changed, err := m.heardFrom(wamid, at)
	if err != nil {
		return false, err
	}
	return m.ApplyStatus(StatusUpdate{WAMID: wamid, Status: StatusSent, Timestamp: at}) || changed, nil
}

// FailSend records that the send path gave up on m before WhatsApp took it
// (refused, rate-limited, or in doubt). A message WhatsApp has answered
// for (it has a wamid) is left to WhatsApp's statuses.
func (m *Message) FailSend(at time.Time, reason MessageError) bool {
	if m.WAMID != "" || m.Status == StatusFailed {
		return false
	}
	m.Status, m.StatusAt, m.Errors = StatusFailed, at, []MessageError{reason}
	return true
}

// ApplyStatus folds one of WhatsApp's status webhooks into m and reports
// whether m changed. The status only moves up in rank (sent < delivered <
// failed < read); timestamps and pricing are kept from whichever webhook
// carries them, so a late "sent" still contributes its pricing. A status
// about another wamid than m's changes nothing.
func (m *Message) ApplyStatus(u StatusUpdate) bool {
	if u.Status.Rank() == 0 {
		return false
	}
	changed, err := m.heardFrom(u.WAMID, u.Timestamp)
	if err != nil {
		return false
	}
	switch {
	case u.Status == StatusFailed && m.Status.Rank() > StatusFailed.Rank():
		// Read first, then failed: the customer read it; the failure is
		// history, not the message's state.
		changed = m.remember(StatusChange{Status: StatusFailed, At: u.Timestamp, Errors: u.Errors}) || changed
	case u.Status == StatusFailed && m.Status == StatusFailed:
		if len(m.Errors) == 0 && len(u.Errors) > 0 {
			m.Errors = u.Errors
			changed = true
		}
	case u.Status.Rank() > m.Status.Rank():
		if m.Status == StatusFailed { // read overtakes a failure
			m.remember(StatusChange{Status: StatusFailed, At: m.StatusAt, Errors: m.Errors})
			m.Errors = nil
		}
		m.Status, m.StatusAt = u.Status, u.Timestamp
		if u.Status == StatusFailed {
			m.Errors = u.Errors
		}
		changed = true
	}
	ts := u.Timestamp
	if (u.Status == StatusDelivered || u.Status == StatusRead) && m.Delivered == nil {
		m.Delivered = &ts
		changed = true
	}
	if u.Status == StatusRead && m.Read == nil {
		m.Read = &ts
		changed = true
	}
	if u.Pricing != nil && m.Pricing == nil {
		m.Pricing = u.Pricing
		changed = true
	}
	return changed
}

// heardFrom records that WhatsApp spoke of m as wamid: a message without
// one takes it, and a failure the send path recorded without WhatsApp's
// word is undone (kept in History). A different wamid is an error.
func (m *Message) heardFrom(wamid string, at time.Time) (bool, error) {
	switch {
	case wamid == "" || m.WAMID == wamid:
		return false, nil
	case m.WAMID != "":
		return false, fmt.Errorf("message %s is wamid %s, not %s", m.ID, m.WAMID, wamid)
	}
	m.WAMID = wamid
	if m.Status == StatusFailed {
		m.remember(StatusChange{Status: StatusFailed, At: m.StatusAt, Errors: m.Errors})
		m.Status, m.StatusAt, m.Errors = StatusQueued, at, nil
	}
	return true, nil
}

func (m *Message) remember(c StatusChange) bool {
	if slices.ContainsFunc(m.History, func(h StatusChange) bool { return h.Status == c.Status && h.At.Equal(c.At) }) {
		return false
	}
	m.History = append(m.History, c)
	return true
}

// MessageRef addresses a stored message within its org. The send path
// sends it to WhatsApp as biz_opaque_callback_data, which WhatsApp echoes
// in every status webhook of the message: a status then finds its message
// even when the wamid was never recorded (a crash right after the send).
type MessageRef struct {
	ConversationID string
	Timestamp      time.Time
	ID             string
}

// RefOf returns m's reference.
func RefOf(m *Message) MessageRef {
	return MessageRef{ConversationID: m.ConversationID, Timestamp: m.Timestamp, ID: m.ID}
}

const refPrefix = "wacrm1:"

// String encodes the reference for biz_opaque_callback_data (at most 512
// characters at WhatsApp; ours are about 70).
func (r MessageRef) String() string {
	return refPrefix + r.ConversationID + ":" + strconv.FormatInt(r.Timestamp.UnixNano(), 10) + ":" + r.ID
}

// ParseMessageRef decodes what String encoded; ok is false for anything
// else (callback data of another sender, or none).
func ParseMessageRef(s string) (ref MessageRef, ok bool) {
	rest, found := strings.CutPrefix(s, refPrefix)
	if !found {
		return ref, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return ref, false
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ref, false
	}
	return MessageRef{ConversationID: parts[0], Timestamp: time.Unix(0, ns).UTC(), ID: parts[2]}, true
}

// AnswerScan finds a conversation's answered state in its messages, read
// newest first: the latest reply that answers (see Message.Answers) and
// the customer's messages after it.
type AnswerScan struct {
	answer  *Message
	waiting []time.Time
}

// Add takes the next older message and reports whether the scan is done.
func (a *AnswerScan) Add(m *Message) (done bool) {
	switch {
	case a.answer != nil:
		return true
	case m.Answers():
		c := *m
		a.answer = &c
		return true
	case m.Direction == Inbound && m.Type != "system":
		a.waiting = append(a.waiting, m.Timestamp)
	}
	return false
}

// SetAnswered gives c the answered state the scanned messages leave it in,
// as ApplyInbound and ApplyReply would have had the failed replies never
// been sent.
func (c *Conversation) SetAnswered(a *AnswerScan) {
	c.AnsweredBy, c.AnsweredAt, c.UnansweredSince = "", nil, nil
	if a.answer != nil {
		t := a.answer.Timestamp
		c.AnsweredBy, c.AnsweredAt = a.answer.SentBy, &t
	}
	for _, t := range a.waiting {
		if c.AnsweredAt != nil && !t.After(*c.AnsweredAt) {
			continue // same second as the reply: answered, as in ApplyInbound
		}
		if c.UnansweredSince == nil || t.Before(*c.UnansweredSince) {
			c.UnansweredSince = &t
		}
	}
}
