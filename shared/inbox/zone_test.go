package inbox

import (
	"testing"
	"time"
)

// Day spans are the user's calendar days: around midnight in Tokyo (UTC+9),
// "today" starts at Tokyo's midnight, not UTC's.
func TestDaySpansFollowTheUsersZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 00:10 on the 21st in Tokyo is 15:10 on the 20th in UTC.
	now := time.Date(2026, 11, 21, 0, 10, 0, 0, tokyo)
	at := func(tokyoClock string) *time.Time {
		ts, err := time.ParseInLocation("2006-01-02 15:04", tokyoClock, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return &ts
	}
	answered := func(ts *time.Time) *Conversation { return &Conversation{AnsweredAt: ts, LastMessageAt: *ts} }
	tests := []struct {
		name  string
		query ViewQuery
		loc   *time.Location
		conv  *Conversation
		want  bool
	}{
		{"today in Tokyo: 20 minutes ago, yesterday there", ViewQuery{Answered: "today"}, tokyo, answered(at("2026-11-20 23:50")), false},
		{"today in UTC: the same moment is today", ViewQuery{Answered: "today"}, time.UTC, answered(at("2026-11-20 23:50")), true},
		{"today in Tokyo: after midnight", ViewQuery{Answered: "today"}, tokyo, answered(at("2026-11-21 00:01")), true},
		{"1d is today", ViewQuery{Answered: "1d"}, tokyo, answered(at("2026-11-20 23:50")), false},
		{"2d is today and yesterday", ViewQuery{Answered: "2d"}, tokyo, answered(at("2026-11-20 00:00")), true},
		{"2d stops at yesterday's midnight", ViewQuery{Answered: "2d"}, tokyo, answered(at("2026-11-19 23:59")), false},
		{"3d of messages, in UTC: 09:00 Tokyo on the 18th is 00:00 UTC", ViewQuery{MessageTime: "3d"}, time.UTC, answered(at("2026-11-18 09:00")), true},
		{"3d of messages, in Tokyo: the 18th is 4 days back", ViewQuery{MessageTime: "3d"}, tokyo, answered(at("2026-11-18 09:00")), false},
		{"hours are not calendar: 12h back from now", ViewQuery{MessageTime: "12h"}, tokyo, answered(at("2026-11-20 12:20")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.query.Filter("u", now, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.conv, now); got != tt.want {
				t.Errorf("match %v, want %v (filter %+v)", got, tt.want, f)
			}
		})
	}
	// The built-in "sent today" view is the same rule.
	v, _ := Builtin("sent-today")
	f, _ := v.Query.Filter("u", now, tokyo)
	if f.Match(answered(at("2026-11-20 23:50")), now) {
		t.Error("sent today in Tokyo shows a reply sent before Tokyo's midnight")
	}
}

// Across a DST change a calendar day is 23 or 25 hours: "1d" still starts
// at local midnight.
func TestDaySpansAcrossDST(t *testing.T) {
	lisbon, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 10, 26, 1, 0, 0, 0, lisbon) // clocks went back on the 25th
	sp, _ := ParseSpan("2d")
	if got, want := sp.Since(now, lisbon), time.Date(2026, 10, 25, 0, 0, 0, 0, lisbon); !got.Equal(want) {
		t.Errorf("2d since %v, want %v", got, want)
	}
}

func TestZone(t *testing.T) {
	tests := []struct{ user, org, want string }{
		{"Asia/Tokyo", "Europe/Lisbon", "Asia/Tokyo"},
		{"", "Europe/Lisbon", "Europe/Lisbon"},
		{"Not/AZone", "Europe/Lisbon", "Europe/Lisbon"},
		{"", "", "UTC"},
		{"../../etc/passwd", "", "UTC"},
	}
	for _, tt := range tests {
		if got := Zone(tt.user, tt.org).String(); got != tt.want {
			t.Errorf("Zone(%q, %q) = %s, want %s", tt.user, tt.org, got, tt.want)
		}
	}
}
