package inbox

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter selects conversations for the Messages tab. Conditions combine with
// AND. Durations are "within the last ..." relative to now; zero means no
// condition.
type Filter struct {
	Unanswered       bool          // only conversations waiting for a reply
	UnansweredWithin time.Duration // waiting since at most this long ago (implies Unanswered)
	AnsweredWithin   time.Duration // answered at most this long ago
	MessageWithin    time.Duration // last message at most this long ago
	Owner            string        // record owner's user id
	AnsweredBy       string        // user id of who answered last
	WindowOpen       bool          // only conversations whose service window is open
	Cursor           string
	Limit            int
}

// Match reports whether c passes every condition of f.
func (f Filter) Match(c *Conversation, now time.Time) bool {
	within := func(t time.Time, d time.Duration) bool { return !t.Before(now.Add(-d)) }
	if f.Unanswered || f.UnansweredWithin > 0 {
		if c.UnansweredSince == nil {
			return false
		}
		if f.UnansweredWithin > 0 && !within(*c.UnansweredSince, f.UnansweredWithin) {
			return false
		}
	}
	if f.AnsweredWithin > 0 && (c.AnsweredAt == nil || !within(*c.AnsweredAt, f.AnsweredWithin)) {
		return false
	}
	if f.MessageWithin > 0 && !within(c.LastMessageAt, f.MessageWithin) {
		return false
	}
	if f.Owner != "" && c.OwnerID != f.Owner {
		return false
	}
	if f.AnsweredBy != "" && c.AnsweredBy != f.AnsweredBy {
		return false
	}
	if f.WindowOpen && !c.WindowOpen(now) {
		return false
	}
	return true
}

// ParseSpan reads the Messages tab's spans: a count and a unit, h (hours),
// d (days), w (weeks) or m (months, 30 days): "3d", "1w", "2m".
func ParseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if len(s) < 2 {
		return 0, fmt.Errorf("span %q: want a number and a unit (h, d, w or m), like 3d", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || n > 3650 {
		return 0, fmt.Errorf("span %q: want a positive number and a unit (h, d, w or m), like 3d", s)
	}
	day := 24 * time.Hour
	switch s[len(s)-1] {
	case 'h':
		return time.Duration(n) * time.Hour, nil
	case 'd':
		return time.Duration(n) * day, nil
	case 'w':
		return time.Duration(n) * 7 * day, nil
	case 'm':
		return time.Duration(n) * 30 * day, nil
	}
	return 0, fmt.Errorf("span %q: unit must be h, d, w or m", s)
}
