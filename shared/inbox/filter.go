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

// Span is a Messages tab span: a count and a unit, h (hours), d (days),
// w (weeks) or m (months of 30 days): "12h", "3d", "1w", "2m".
type Span struct {
	N    int
	Unit byte
}

// ParseSpan reads a span.
func ParseSpan(s string) (Span, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if len(s) < 2 {
		return Span{}, fmt.Errorf("span %q: want a number and a unit (h, d, w or m), like 3d", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || n > 3650 {
		return Span{}, fmt.Errorf("span %q: want a positive number and a unit (h, d, w or m), like 3d", s)
	}
	switch u := s[len(s)-1]; u {
	case 'h', 'd', 'w', 'm':
		return Span{N: n, Unit: u}, nil
	}
	return Span{}, fmt.Errorf("span %q: unit must be h, d, w or m", s)
}

// Since is when a span ending at now began. Hours count back from now.
// Days are the user's calendar days in loc, today being the first: "1d"
// is today since midnight, "3d" today and the two days before, a week
// 7 days, a month 30; so "in the last 3 days" means what the user's
// calendar says, not 72 hours.
func (s Span) Since(now time.Time, loc *time.Location) time.Time {
	days := s.N
	switch s.Unit {
	case 'h':
		return now.Add(-time.Duration(s.N) * time.Hour)
	case 'w':
		days = 7 * s.N
	case 'm':
		days = 30 * s.N
	}
	return StartOfDay(StartOfDay(now, loc).AddDate(0, 0, -(days-1)), loc)
}
