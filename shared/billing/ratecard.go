package billing

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
)

// Categories of a message, as Meta prices them.
const (
	CategoryService        = "service" // a free-form reply inside the customer service window
	CategoryUtility        = "utility"
	CategoryMarketing      = "marketing"
	CategoryAuthentication = "authentication"
)

// Categories lists every category a rate card prices.
var Categories = []string{CategoryService, CategoryUtility, CategoryMarketing, CategoryAuthentication}

// RateCard is the prices of one version, by market and category, for both
// models, in credits before the markup. It is data: a deployment replaces
// it with a file of the same shape (see LoadRateCard) without a code change.
type RateCard struct {
	Version string `json:"version"`
	// Sample marks a card whose figures are not a provider's published
	// prices; the API shows it so nobody mistakes it for real rates.
	Sample        bool      `json:"sample,omitempty"`
	Notice        string    `json:"notice,omitempty"`
	Effective     string    `json:"effective"` // YYYY-MM-DD
	Currency      string    `json:"currency"`
	CreditsPer    int64     `json:"creditsPerUnit"` // credits in one unit of Currency
	MarkupBps     int64     `json:"markupBps"`      // the deployment's markup, in 1/100 of a percent
	DefaultMarket string    `json:"defaultMarket"`
	Markets       []Market  `json:"markets"`
	effective     time.Time // parsed Effective
	byPrefix      map[string]*Market
	byCode        map[string]*Market
}

// Market is a set of countries priced alike, found by calling code.
type Market struct {
	Code         string             `json:"code"`
	Name         string             `json:"name"`
	CallingCodes []string           `json:"callingCodes"`
	Conversation map[string]Credits `json:"conversation"` // per 24-hour conversation
	Message      map[string]Credits `json:"message"`      // per message
}

//go:embed rates/sample.json
var sampleCard []byte

// SampleRateCard is the card shipped with the code: sample figures, marked
// as such.
func SampleRateCard() *RateCard {
	c, err := ParseRateCard(sampleCard)
	if err != nil {
		panic("billing: shipped rate card is invalid: " + err.Error())
	}
	return c
}

// maxMarkupBps bounds the markup at 1,000%.
const maxMarkupBps = 100_000

// ParseRateCard reads and checks a rate card: every market prices every
// category in both models, calling codes are digits and belong to one
// market, and the default market exists.
func ParseRateCard(b []byte) (*RateCard, error) {
	var c RateCard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("rate card: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Version == "" {
		bad("version is required")
	}
	eff, err := time.Parse(time.DateOnly, c.Effective)
	if err != nil {
		bad("effective %q is not a YYYY-MM-DD date", c.Effective)
	}
	c.effective = eff
	if c.CreditsPer != 10_000 {
		bad("creditsPerUnit is %d; wacrm counts 10000 credits to the unit", c.CreditsPer)
	}
	if c.MarkupBps < 0 || c.MarkupBps > maxMarkupBps {
		bad("markupBps %d is outside 0..%d", c.MarkupBps, maxMarkupBps)
	}
	c.byPrefix, c.byCode = map[string]*Market{}, map[string]*Market{}
	for i := range c.Markets {
		m := &c.Markets[i]
		if m.Code == "" || c.byCode[m.Code] != nil {
			bad("market %d: code %q is empty or repeated", i, m.Code)
		}
		c.byCode[m.Code] = m
		for _, cc := range m.CallingCodes {
			if cc == "" || strings.Trim(cc, "0123456789") != "" {
				bad("market %s: calling code %q is not digits", m.Code, cc)
			}
			if other := c.byPrefix[cc]; other != nil {
				bad("calling code %s is in markets %s and %s", cc, other.Code, m.Code)
			}
			c.byPrefix[cc] = m
		}
		for _, model := range []struct {
			name  string
			rates map[string]Credits
		}{{"conversation", m.Conversation}, {"message", m.Message}} {
			for _, cat := range Categories {
				r, ok := model.rates[cat]
				if !ok || r < 0 {
					bad("market %s: %s rate of %s missing or negative", m.Code, model.name, cat)
				}
			}
			if len(model.rates) != len(Categories) {
				bad("market %s: %s rates name an unknown category", m.Code, model.name)
			}
		}
	}
	if c.byCode[c.DefaultMarket] == nil {
		bad("defaultMarket %q is not one of the markets", c.DefaultMarket)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rate card %s: %w", c.Version, errors.Join(errs...))
	}
	return &c, nil
}

// MarketOf finds the market of a WhatsApp id (the customer's number with
// its country calling code, digits only) by the longest calling code it
// starts with; the default market otherwise (also for customers known only
// by a user id).
func (c *RateCard) MarketOf(waID string) *Market {
	digits := strings.TrimPrefix(waID, "+")
	for n := min(len(digits), 4); n > 0; n-- {
		if m := c.byPrefix[digits[:n]]; m != nil {
			return m
		}
	}
	return c.byCode[c.DefaultMarket]
}

// Rate is a market's price for one message or conversation of a category
// in a model, with the markup, rounded up to a whole credit.
func (c *RateCard) Rate(m *Market, model Model, category string) (Credits, error) {
	rates := m.Conversation
	if model == PerMessage {
		rates = m.Message
	}
	base, ok := rates[category]
	if !ok {
		return 0, apperr.E(apperr.Invalid, "The rate card has no %s price for category %q.", model, category)
	}
	return withMarkup(base, c.MarkupBps), nil
}

// withMarkup is ceil(base * (1 + bps/10000)) in integers.
func withMarkup(base Credits, bps int64) Credits {
	n := int64(base) * (10_000 + bps)
	return Credits((n + 9_999) / 10_000)
}

// Quote is the price of the next reply in a conversation.
type Quote struct {
	Credits  Credits `json:"credits"`
	Market   string  `json:"market"`
	Category string  `json:"category"`
	Model    Model   `json:"model"`
	// NewConversation: the reply opens a paid 24-hour conversation (the
	// conversation model); PaidUntil is when that conversation ends.
	NewConversation bool       `json:"newConversation,omitempty"`
	PaidUntil       *time.Time `json:"paidUntil,omitempty"`
	RateCard        string     `json:"rateCard"`
}

// Price quotes a reply of category to customer waID at now, in a
// conversation paid until paidUntil (zero: never paid). In the
// conversation model a reply inside a paid conversation costs 0; the first
// one opens a new 24-hour conversation.
func (c *RateCard) Price(model Model, waID, category string, paidUntil time.Time, now time.Time) (Quote, error) {
	m := c.MarketOf(waID)
	q := Quote{Market: m.Code, Category: category, Model: model, RateCard: c.Version}
	if model == PerConversation && now.Before(paidUntil) {
		return q, nil
	}
	price, err := c.Rate(m, model, category)
	if err != nil {
		return q, err
	}
	q.Credits = price
	if model == PerConversation {
		until := now.Add(ConversationLength)
		q.NewConversation, q.PaidUntil = true, &until
	}
	return q, nil
}

// RateView is one market's prices with the markup, as admins read them.
type RateView struct {
	Code         string             `json:"code"`
	Name         string             `json:"name"`
	CallingCodes []string           `json:"callingCodes"`
	Conversation map[string]Credits `json:"conversation"`
	Message      map[string]Credits `json:"message"`
}

// Views lists the markets with marked-up prices, in code order.
func (c *RateCard) Views() []RateView {
	out := make([]RateView, 0, len(c.Markets))
	for i := range c.Markets {
		m := &c.Markets[i]
		v := RateView{Code: m.Code, Name: m.Name, CallingCodes: m.CallingCodes,
			Conversation: map[string]Credits{}, Message: map[string]Credits{}}
		if v.CallingCodes == nil {
			v.CallingCodes = []string{}
		}
		for _, cat := range Categories {
			v.Conversation[cat] = withMarkup(m.Conversation[cat], c.MarkupBps)
			v.Message[cat] = withMarkup(m.Message[cat], c.MarkupBps)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// ChargeReply prices a reply of category to customer waID in a
// conversation paid until paidUntil (nil: never paid) and debits it from
// the account. It returns the charge to keep on the message and the
// conversation's new paid-until time (nil: unchanged). e carries what the
// ledger entry belongs to (conversation, message, user).
func (c *RateCard) ChargeReply(a *Account, waID, category string, paidUntil *time.Time, e Entry, now time.Time) (*Charge, *time.Time, error) {
	var until time.Time
	if paidUntil != nil {
		until = *paidUntil
	}
	q, err := c.Price(a.ModelOrDefault(), waID, category, until, now)
	if err != nil {
		return nil, nil, err
	}
	ch := &Charge{Credits: q.Credits, Market: q.Market, Category: q.Category, Model: q.Model}
	if q.Credits == 0 {
		return ch, nil, nil
	}
	e.Market, e.Category, e.Model, e.NewConversation = q.Market, q.Category, q.Model, q.NewConversation
	e.Reason = "Reply"
	if q.NewConversation {
		e.Reason = "Reply opening a 24-hour conversation"
	}
	entry, err := a.Debit(q.Credits, e, now)
	if err != nil {
		return nil, nil, err
	}
	ch.Seq = entry.Seq
	return ch, q.PaidUntil, nil
}
