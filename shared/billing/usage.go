package billing

import (
	"context"
	"sort"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
)

// Billed is Meta's pricing report of one of our messages, beside what we
// charged for it.
type Billed struct {
	At       time.Time
	Billable bool
	Model    string // Meta's: CBP or PMP
	Category string // Meta's category
	Charge   *Charge
}

// UsageRow is one day, market and category.
type UsageRow struct {
	Day           string  `json:"day"` // YYYY-MM-DD, UTC
	Market        string  `json:"market"`
	Category      string  `json:"category"`
	Messages      int64   `json:"messages"`      // replies charged (free ones included)
	Conversations int64   `json:"conversations"` // paid 24-hour conversations opened
	Charged       Credits `json:"charged"`       // credits charged
	Refunded      Credits `json:"refunded"`      // credits given back for failed replies
	MetaReported  int64   `json:"metaReported"`  // messages Meta reported pricing for
	MetaBillable  int64   `json:"metaBillable"`  // of those, the ones Meta bills
}

// MaxUsageSpan bounds a usage request.
const MaxUsageSpan = 93 * 24 * time.Hour

// Usage sums charges, refunds and Meta's pricing reports by day, market and
// category over [from, to) (admin only).
func (s *Service) Usage(ctx context.Context, p auth.Principal, from, to time.Time) ([]UsageRow, error) {
	if err := admin(p, "read usage"); err != nil {
		return nil, err
	}
	if !from.Before(to) || to.Sub(from) > MaxUsageSpan {
		return nil, apperr.E(apperr.Invalid, "from must be before to, at most 93 days apart.")
	}
	rows := map[[3]string]*UsageRow{}
	row := func(at time.Time, market, category string) *UsageRow {
		k := [3]string{at.UTC().Format(time.DateOnly), market, category}
		r := rows[k]
		if r == nil {
			r = &UsageRow{Day: k[0], Market: market, Category: category}
			rows[k] = r
		}
		return r
	}
	err := s.Store.LedgerBetween(ctx, p.Org, from, to, func(page []Entry) error {
		for _, e := range page {
			switch e.Kind {
			case KindCharge:
				r := row(e.At, e.Market, e.Category)
				r.Messages++
				r.Charged += -e.Amount
				if e.NewConversation {
					r.Conversations++
				}
			case KindRefund:
				row(e.At, e.Market, e.Category).Refunded += e.Amount
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.Store.BilledBetween(ctx, p.Org, from, to, func(page []Billed) error {
		for _, b := range page {
			market, category := "", b.Category
			if b.Charge != nil {
				market = b.Charge.Market
			}
			r := row(b.At, market, category)
			r.MetaReported++
			if b.Billable {
				r.MetaBillable++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]UsageRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Market != b.Market {
			return a.Market < b.Market
		}
		return a.Category < b.Category
	})
	return out, nil
}
