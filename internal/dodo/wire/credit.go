package wire

import "time"

// CreditLedgerEntry is the data of the credit.* events other than
// credit.balance_low (spec CreditLedgerEntryResponse): one movement of a
// customer's credit balance. Amounts and balances are decimal strings in
// the entitlement's unit, not money.
type CreditLedgerEntry struct {
	// PayloadType is "CreditLedgerEntry" when present; see
	// Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	ID                  string  `json:"id"`
	BusinessID          string  `json:"business_id"`
	BrandID             string  `json:"brand_id"`
	CustomerID          string  `json:"customer_id"`
	CreditEntitlementID string  `json:"credit_entitlement_id"`
	GrantID             *string `json:"grant_id"`
	// TransactionType is credit_added, credit_deducted, credit_expired,
	// credit_rolled_over, rollover_forfeited, overage_charged,
	// overage_reset, auto_top_up, manual_adjustment or refund.
	TransactionType string `json:"transaction_type"`
	// IsCredit is true when the entry adds to the balance.
	IsCredit      bool      `json:"is_credit"`
	Amount        string    `json:"amount"`
	BalanceBefore string    `json:"balance_before"`
	BalanceAfter  string    `json:"balance_after"`
	OverageBefore string    `json:"overage_before"`
	OverageAfter  string    `json:"overage_after"`
	Description   *string   `json:"description"`
	ReferenceID   *string   `json:"reference_id"`
	ReferenceType *string   `json:"reference_type"` // e.g. "subscription"
	Metadata      Metadata  `json:"metadata"`
	CreatedAt     time.Time `json:"created_at"`
}

// CreditBalanceLow is the data of the credit.balance_low event (spec
// CreditBalanceLowPayload). Balances are decimal strings.
type CreditBalanceLow struct {
	// PayloadType is "CreditBalanceLow" when present; see
	// Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	CustomerID                string `json:"customer_id"`
	SubscriptionID            string `json:"subscription_id"`
	BrandID                   string `json:"brand_id"`
	CreditEntitlementID       string `json:"credit_entitlement_id"`
	CreditEntitlementName     string `json:"credit_entitlement_name"`
	AvailableBalance          string `json:"available_balance"`
	SubscriptionCreditsAmount string `json:"subscription_credits_amount"`
	ThresholdPercent          int    `json:"threshold_percent"`
	ThresholdAmount           string `json:"threshold_amount"`
}
