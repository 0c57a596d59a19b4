package inbox

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/ids"
)

// ViewQuery is a Messages tab filter as the frontend writes it in the query
// string. Views keep it in this form so "me" means whoever opens the view.
type ViewQuery struct {
	Unanswered  string `json:"unanswered,omitempty"`  // "all" or a span such as 3d
	Answered    string `json:"answered,omitempty"`    // span, or "today"
	MessageTime string `json:"messageTime,omitempty"` // span
	Owner       string `json:"owner,omitempty"`       // user id or "me"
	AnsweredBy  string `json:"answeredBy,omitempty"`  // user id or "me"
	WindowOpen  bool   `json:"windowOpen,omitempty"`  // only conversations that can still be answered
}

// View is a saved Messages tab filter.
type View struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Builtin   bool      `json:"builtin"`
	Query     ViewQuery `json:"query"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// Builtins are the views every user has.
var Builtins = []View{
	{ID: "unanswered", Name: "Unanswered", Builtin: true, Query: ViewQuery{Unanswered: "all", WindowOpen: true}},
	{ID: "sent-today", Name: "Sent today", Builtin: true, Query: ViewQuery{Answered: "today"}},
	{ID: "all-unanswered", Name: "All unanswered", Builtin: true, Query: ViewQuery{Unanswered: "all"}},
}

// Builtin returns the built-in view with id.
func Builtin(id string) (View, bool) {
	for _, v := range Builtins {
		if v.ID == id {
			return v, true
		}
	}
	return View{}, false
}

// ViewQueryFrom reads a ViewQuery from URL parameters. windowOpen is true
// or false, nothing looser: a filter the caller believes applied must
// apply. Spans are checked when the query becomes a Filter.
func ViewQueryFrom(q url.Values) (ViewQuery, error) {
	vq := ViewQuery{
		Unanswered: q.Get("unanswered"), Answered: q.Get("answered"), MessageTime: q.Get("messageTime"),
		Owner: q.Get("owner"), AnsweredBy: q.Get("answeredBy"),
	}
	switch s := q.Get("windowOpen"); s {
	case "", "false":
	case "true":
		vq.WindowOpen = true
	default:
		return vq, apperr.E(apperr.Invalid, "windowOpen must be true or false, not %q.", s)
	}
	return vq, nil
}

// Over returns q with every condition set in o replacing q's.
func (q ViewQuery) Over(o ViewQuery) ViewQuery {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&q.Unanswered, o.Unanswered)
	set(&q.Answered, o.Answered)
	set(&q.MessageTime, o.MessageTime)
	set(&q.Owner, o.Owner)
	set(&q.AnsweredBy, o.AnsweredBy)
	q.WindowOpen = q.WindowOpen || o.WindowOpen
	return q
}

// Filter resolves q for user at now ("me", "today") into a Filter. Day
// spans ("today", "3d") are the user's calendar days in loc (see Zone).
func (q ViewQuery) Filter(user string, now time.Time, loc *time.Location) (Filter, error) {
	var f Filter
	span := func(name, s string, dst *time.Duration) error {
		if s == "" {
			return nil
		}
		sp := Span{N: 1, Unit: 'd'} // today
		if name != "answered" || s != "today" {
			var err error
			if sp, err = ParseSpan(s); err != nil {
				return apperr.Wrap(err, apperr.Invalid, "%s: %v.", name, err)
			}
		}
		*dst = max(now.Sub(sp.Since(now, loc)), time.Nanosecond)
		return nil
	}
	switch strings.ToLower(q.Unanswered) {
	case "":
	case "all", "true":
		f.Unanswered = true
	default:
		if err := span("unanswered", q.Unanswered, &f.UnansweredWithin); err != nil {
			return f, err
		}
		f.Unanswered = true
	}
	if err := span("answered", q.Answered, &f.AnsweredWithin); err != nil {
		return f, err
	}
	if err := span("messageTime", q.MessageTime, &f.MessageWithin); err != nil {
		return f, err
	}
	me := func(name, s string) (string, error) {
		switch s {
		case "":
			return "", nil
		case "me":
			return user, nil
		}
		if err := ids.Check(name, s); err != nil {
			return "", apperr.Wrap(err, apperr.Invalid, "%s must be me or a user id: %v.", name, err)
		}
		return s, nil
	}
	var err error
	if f.Owner, err = me("owner", q.Owner); err != nil {
		return f, err
	}
	if f.AnsweredBy, err = me("answeredBy", q.AnsweredBy); err != nil {
		return f, err
	}
	f.WindowOpen = q.WindowOpen
	return f, nil
}

// Validate checks a view before it is saved.
func (v *View) Validate() error {
	v.Name = strings.TrimSpace(v.Name)
	if v.Name == "" || len([]rune(v.Name)) > 60 {
		return apperr.E(apperr.Invalid, "A view needs a name of 1 to 60 characters.")
	}
	if _, err := v.Query.Filter("me", time.Now(), DefaultZone); err != nil {
		return err
	}
	if v.Query == (ViewQuery{}) {
		return apperr.E(apperr.Invalid, "A view needs at least one condition.")
	}
	return nil
}

func (v View) String() string { return fmt.Sprintf("%s (%s)", v.Name, v.ID) }
