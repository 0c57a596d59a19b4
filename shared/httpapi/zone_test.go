package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/auth"
)

// "today" and the built-in "sent today" view follow the caller's time zone
// (the token's zoneinfo claim), not UTC: just after midnight in Tokyo, a
// reply sent 20 minutes earlier is yesterday's for a user there and
// today's for one in UTC.
func TestSentTodayFollowsTheUsersZone(t *testing.T) {
	h := newHarness(t, nil)
	kei := auth.Principal{UserID: "u-kei", Org: "acme", Name: "Kei", Groups: []string{"sales"}, TimeZone: "Asia/Tokyo"}
	tok, err := h.Issuer.Issue(kei, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.Tokens["u-kei"] = tok

	h.Now = time.Date(2026, 11, 20, 14, 40, 0, 0, time.UTC) // 23:40 in Tokyo
	h.customerWrites("15550000051", "Ana", "wamid.tz1", "hola")
	var list convPage
	h.do("u-sam", "GET", "/v1/conversations", nil, &list)
	h.Now = h.Now.Add(10 * time.Minute) // 23:50 in Tokyo
	if got := h.do("u-sam", "POST", "/v1/conversations/"+list.Items[0].ID+"/messages", map[string]any{"text": "hi"}, nil); got != http.StatusAccepted {
		t.Fatalf("reply: %d", got)
	}
	h.Now = h.Now.Add(20 * time.Minute) // 00:10 on the 21st in Tokyo, 15:10 on the 20th in UTC

	count := func(user, query string) int {
		t.Helper()
		var p convPage
		if got := h.do(user, "GET", "/v1/conversations?"+query, nil, &p); got != http.StatusOK {
			t.Fatalf("%s %s: %d", user, query, got)
		}
		return len(p.Items)
	}
	for _, q := range []string{"answered=today", "view=sent-today", "answered=1d"} {
		if got := count("u-sam", q); got != 1 {
			t.Errorf("u-sam (UTC) %s: %d, want 1", q, got)
		}
		if got := count("u-kei", q); got != 0 {
			t.Errorf("u-kei (Tokyo) %s: %d, want 0: the reply was sent yesterday in Tokyo", q, got)
		}
	}
	if got := count("u-kei", "answered=2d"); got != 1 {
		t.Errorf("u-kei (Tokyo) answered=2d: %d, want 1", got)
	}
}

// Without a zoneinfo claim, the org's time zone applies; an admin sets it.
func TestOrgTimeZoneIsTheDefault(t *testing.T) {
	h := newHarness(t, nil)
	h.Now = time.Date(2026, 11, 20, 14, 40, 0, 0, time.UTC) // 23:40 in Tokyo
	h.customerWrites("15550000052", "Ana", "wamid.tz2", "hola")
	var list convPage
	h.do("u-sam", "GET", "/v1/conversations", nil, &list)
	h.Now = h.Now.Add(10 * time.Minute)
	if got := h.do("u-sam", "POST", "/v1/conversations/"+list.Items[0].ID+"/messages", map[string]any{"text": "hi"}, nil); got != http.StatusAccepted {
		t.Fatalf("reply: %d", got)
	}
	h.Now = h.Now.Add(20 * time.Minute) // 00:10 in Tokyo
	sentToday := func() int {
		var p convPage
		h.do("u-sam", "GET", "/v1/conversations?view=sent-today", nil, &p)
		return len(p.Items)
	}
	if got := sentToday(); got != 1 {
		t.Fatalf("sent today in UTC (the default): %d, want 1", got)
	}
	var e apiError
	for _, bad := range []string{"Mars/Olympus", "Local", "+09:00"} {
		if got := h.do("u-admin", "PATCH", "/v1/settings", map[string]any{"timeZone": bad}, &e); got != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("timeZone %q: %d %+v, want 400", bad, got, e)
		}
	}
	if got := h.do("u-sam", "PATCH", "/v1/settings", map[string]any{"timeZone": "Asia/Tokyo"}, &e); got != http.StatusForbidden {
		t.Errorf("non-admin sets the org's zone: %d", got)
	}
	var s struct {
		TimeZone string `json:"timeZone"`
	}
	if got := h.do("u-admin", "PATCH", "/v1/settings", map[string]any{"timeZone": "Asia/Tokyo"}, &s); got != http.StatusOK || s.TimeZone != "Asia/Tokyo" {
		t.Fatalf("set the org's zone: %d %+v", got, s)
	}
	if got := sentToday(); got != 0 {
		t.Errorf("sent today in the org's zone (Tokyo): %d, want 0", got)
	}
	s.TimeZone = ""
	if got := h.do("u-admin", "PATCH", "/v1/settings", map[string]any{"timeZone": ""}, &s); got != http.StatusOK || s.TimeZone != "" || sentToday() != 1 {
		t.Errorf("clearing the org's zone: %d %+v, sent today %d", got, s, sentToday())
	}
}
