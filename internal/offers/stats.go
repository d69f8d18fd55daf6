package offers

import "maps"

// Stats are one rule's conversion figures: how many of its offers were
// shown, and what became of them. Revenue is per currency, in minor units,
// from the offers that converted (their DueNow: what the customer paid
// for accepting).
type Stats struct {
	RuleID    string           `json:"rule_id"`
	Shown     int64            `json:"shown"`
	Accepted  int64            `json:"accepted"`
	Converted int64            `json:"converted"`
	Failed    int64            `json:"failed"`
	Declined  int64            `json:"declined"`
	Expired   int64            `json:"expired"`
	Revenue   map[string]int64 `json:"revenue"`
}

// StatsRuleID is the rule id under which offers made without a rule (on
// the merchant backend's request) are counted.
const StatsRuleID = "_on_demand"

// Counted returns s with o's arrival in state (Open counts as shown)
// counted. The caller counts each offer's state once, when its own
// transition stored that state.
func (s Stats) Counted(o Offer, state State) Stats {
	s.Revenue = maps.Clone(s.Revenue)
	if s.Revenue == nil {
		s.Revenue = map[string]int64{}
	}
	switch state {
	case Open:
		s.Shown++
	case Accepted:
		s.Accepted++
	case Charged:
		s.Converted++
		s.Revenue[o.Amounts.Currency] += o.Amounts.DueNow
	case Failed:
		s.Failed++
	case Declined:
		s.Declined++
	case Expired:
		s.Expired++
	}
	return s
}

// StatsKey is the rule id o is counted under.
func StatsKey(o Offer) string {
	if o.RuleID == "" {
		return StatsRuleID
	}
	return o.RuleID
}
