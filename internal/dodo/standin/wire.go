package standin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The JSON shapes of Dodo's OpenAPI spec (components/schemas), with every
// field the spec lists written out, null included, as Dodo sends them.
// PayloadType is set only in webhooks (data.payload_type); API responses
// leave it out.

type customerLimitedJSON struct {
	CustomerID  string          `json:"customer_id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	PhoneNumber *string         `json:"phone_number"`
	Metadata    json.RawMessage `json:"metadata"`
}

type customerJSON struct {
	CustomerID  string          `json:"customer_id"`
	BusinessID  string          `json:"business_id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	PhoneNumber *string         `json:"phone_number"`
	Metadata    json.RawMessage `json:"metadata"`
	CreatedAt   time.Time       `json:"created_at"`
}

type billingJSON struct {
	Country string  `json:"country"`
	State   *string `json:"state"`
	City    *string `json:"city"`
	Street  *string `json:"street"`
	Zipcode *string `json:"zipcode"`
}

type cardSummaryJSON struct {
	CardHolderName     *string `json:"card_holder_name"`
	CardIssuingCountry *string `json:"card_issuing_country"`
	CardNetwork        *string `json:"card_network"`
	CardType           *string `json:"card_type"`
	ExpiryMonth        *string `json:"expiry_month"`
	ExpiryYear         *string `json:"expiry_year"`
	Last4Digits        *string `json:"last4_digits"`
}

type paymentMethodJSON struct {
	PaymentMethodID   string           `json:"payment_method_id"`
	PaymentMethod     string           `json:"payment_method"`
	PaymentMethodType *string          `json:"payment_method_type"`
	Card              *cardSummaryJSON `json:"card"`
	LastUsedAt        *time.Time       `json:"last_used_at"`
	RecurringEnabled  *bool            `json:"recurring_enabled"`
}

type itemsJSON[T any] struct {
	Items []T `json:"items"`
}

type priceJSON struct {
	Type                       string `json:"type"`
	Price                      int64  `json:"price"`
	Currency                   string `json:"currency"`
	Discount                   int64  `json:"discount"`
	PurchasingPowerParity      bool   `json:"purchasing_power_parity"`
	TaxInclusive               *bool  `json:"tax_inclusive"`
	PaymentFrequencyCount      int    `json:"payment_frequency_count,omitempty"`
	PaymentFrequencyInterval   string `json:"payment_frequency_interval,omitempty"`
	SubscriptionPeriodCount    int    `json:"subscription_period_count,omitempty"`
	SubscriptionPeriodInterval string `json:"subscription_period_interval,omitempty"`
	TrialPeriodDays            *int   `json:"trial_period_days,omitempty"`
}

type productJSON struct {
	ProductID                  string          `json:"product_id"`
	BusinessID                 string          `json:"business_id"`
	BrandID                    string          `json:"brand_id"`
	Name                       *string         `json:"name"`
	Description                *string         `json:"description"`
	IsRecurring                bool            `json:"is_recurring"`
	Price                      priceJSON       `json:"price"`
	TaxCategory                string          `json:"tax_category"`
	Metadata                   json.RawMessage `json:"metadata"`
	Image                      *string         `json:"image"`
	Addons                     []string        `json:"addons"`
	PricingMode                *string         `json:"pricing_mode"`
	LicenseKeyEnabled          bool            `json:"license_key_enabled"`
	LicenseKeyActivationsLimit *int            `json:"license_key_activations_limit"`
	LicenseKeyActivationMsg    *string         `json:"license_key_activation_message"`
	LicenseKeyDuration         *struct{}       `json:"license_key_duration"`
	DigitalProductDelivery     *struct{}       `json:"digital_product_delivery"`
	ProductCollectionID        *string         `json:"product_collection_id"`
	CreditEntitlements         []struct{}      `json:"credit_entitlements"`
	Entitlements               []struct{}      `json:"entitlements"`
	CreatedAt                  time.Time       `json:"created_at"`
	UpdatedAt                  time.Time       `json:"updated_at"`
}

type cartItemJSON struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type paymentJSON struct {
	PayloadType          string              `json:"payload_type,omitempty"`
	PaymentID            string              `json:"payment_id"`
	Status               *string             `json:"status"`
	BusinessID           string              `json:"business_id"`
	BrandID              string              `json:"brand_id"`
	PaymentProvider      string              `json:"payment_provider"`
	CheckoutSessionID    *string             `json:"checkout_session_id"`
	SubscriptionID       *string             `json:"subscription_id"`
	Customer             customerLimitedJSON `json:"customer"`
	ProductCart          []cartItemJSON      `json:"product_cart"`
	TotalAmount          int64               `json:"total_amount"`
	Tax                  *int64              `json:"tax"`
	Currency             string              `json:"currency"`
	SettlementAmount     int64               `json:"settlement_amount"`
	SettlementCurrency   string              `json:"settlement_currency"`
	SettlementTax        *int64              `json:"settlement_tax"`
	Billing              billingJSON         `json:"billing"`
	PaymentMethod        *string             `json:"payment_method"`
	PaymentMethodType    *string             `json:"payment_method_type"`
	PaymentMethodID      *string             `json:"payment_method_id"`
	CardLastFour         *string             `json:"card_last_four"`
	CardNetwork          *string             `json:"card_network"`
	CardType             *string             `json:"card_type"`
	CardIssuingCountry   *string             `json:"card_issuing_country"`
	CardHolderName       *string             `json:"card_holder_name"`
	ErrorCode            *string             `json:"error_code"`
	ErrorMessage         *string             `json:"error_message"`
	Metadata             json.RawMessage     `json:"metadata"`
	InvoiceID            *string             `json:"invoice_id"`
	InvoiceURL           *string             `json:"invoice_url"`
	PaymentLink          *string             `json:"payment_link"`
	Discounts            []struct{}          `json:"discounts"`
	DiscountID           *string             `json:"discount_id"`
	CustomFieldResponses []struct{}          `json:"custom_field_responses"`
	Disputes             []struct{}          `json:"disputes"`
	Refunds              []struct{}          `json:"refunds"`
	RefundStatus         *string             `json:"refund_status"`
	DigitalProducts      bool                `json:"digital_products_delivered"`
	IsUpdatePaymentMeth  bool                `json:"is_update_payment_method"`
	RetryAttempt         int                 `json:"retry_attempt"`
	CreatedAt            time.Time           `json:"created_at"`
	UpdatedAt            *time.Time          `json:"updated_at"`
}

type paymentListItemJSON struct {
	PaymentID         string              `json:"payment_id"`
	Status            *string             `json:"status"`
	BrandID           string              `json:"brand_id"`
	PaymentProvider   string              `json:"payment_provider"`
	SubscriptionID    *string             `json:"subscription_id"`
	Customer          customerLimitedJSON `json:"customer"`
	TotalAmount       int64               `json:"total_amount"`
	Currency          string              `json:"currency"`
	PaymentMethod     *string             `json:"payment_method"`
	PaymentMethodType *string             `json:"payment_method_type"`
	CardLastFour      *string             `json:"card_last_four"`
	CardNetwork       *string             `json:"card_network"`
	Metadata          json.RawMessage     `json:"metadata"`
	InvoiceID         *string             `json:"invoice_id"`
	InvoiceURL        *string             `json:"invoice_url"`
	RefundStatus      *string             `json:"refund_status"`
	DisputeStatus     *string             `json:"dispute_status"`
	DigitalProducts   bool                `json:"digital_products_delivered"`
	HasLicenseKey     bool                `json:"has_license_key"`
	CreatedAt         time.Time           `json:"created_at"`
}

type scheduledChangeJSON struct {
	ID                 string      `json:"id"`
	ProductID          string      `json:"product_id"`
	ProductName        *string     `json:"product_name"`
	ProductDescription *string     `json:"product_description"`
	Quantity           int         `json:"quantity"`
	Addons             []addonJSON `json:"addons"`
	EffectiveAt        time.Time   `json:"effective_at"`
	CreatedAt          time.Time   `json:"created_at"`
}

type addonJSON struct {
	AddonID  string `json:"addon_id"`
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
}

type subscriptionJSON struct {
	PayloadType                string               `json:"payload_type,omitempty"`
	SubscriptionID             string               `json:"subscription_id"`
	Status                     string               `json:"status"`
	ProductID                  string               `json:"product_id"`
	Quantity                   int                  `json:"quantity"`
	Addons                     []struct{}           `json:"addons"`
	BrandID                    string               `json:"brand_id"`
	Customer                   customerLimitedJSON  `json:"customer"`
	Currency                   string               `json:"currency"`
	RecurringPreTaxAmount      int64                `json:"recurring_pre_tax_amount"`
	TaxInclusive               bool                 `json:"tax_inclusive"`
	PaymentFrequencyCount      int                  `json:"payment_frequency_count"`
	PaymentFrequencyInterval   string               `json:"payment_frequency_interval"`
	SubscriptionPeriodCount    int                  `json:"subscription_period_count"`
	SubscriptionPeriodInterval string               `json:"subscription_period_interval"`
	PreviousBillingDate        time.Time            `json:"previous_billing_date"`
	NextBillingDate            time.Time            `json:"next_billing_date"`
	CreatedAt                  time.Time            `json:"created_at"`
	TrialPeriodDays            int                  `json:"trial_period_days"`
	TrialAmount                *int64               `json:"trial_amount"`
	OnDemand                   bool                 `json:"on_demand"`
	CancelAtNextBillingDate    bool                 `json:"cancel_at_next_billing_date"`
	CancelledAt                *time.Time           `json:"cancelled_at"`
	CancellationFeedback       *string              `json:"cancellation_feedback"`
	CancellationComment        *string              `json:"cancellation_comment"`
	ExpiresAt                  *time.Time           `json:"expires_at"`
	PausedAt                   *time.Time           `json:"paused_at"`
	ScheduledChange            *scheduledChangeJSON `json:"scheduled_change"`
	PaymentMethodID            *string              `json:"payment_method_id"`
	Billing                    billingJSON          `json:"billing"`
	Metadata                   json.RawMessage      `json:"metadata"`
	Discounts                  []struct{}           `json:"discounts"`
	DiscountID                 *string              `json:"discount_id"`
	DiscountCyclesRemaining    *int                 `json:"discount_cycles_remaining"`
	TaxID                      *string              `json:"tax_id"`
	CustomerBusinessName       *string              `json:"customer_business_name"`
	CustomFieldResponses       []struct{}           `json:"custom_field_responses"`
	Meters                     []struct{}           `json:"meters"`
	CreditEntitlementCart      []struct{}           `json:"credit_entitlement_cart"`
	MeterCreditEntitlementCart []struct{}           `json:"meter_credit_entitlement_cart"`
}

type createSessionJSON struct {
	SessionID      string  `json:"session_id"`
	CheckoutURL    *string `json:"checkout_url"`
	PaymentID      *string `json:"payment_id"`
	ClientSecret   *string `json:"client_secret"`
	PublishableKey *string `json:"publishable_key"`
}

type checkoutStatusJSON struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	PaymentID     *string   `json:"payment_id"`
	PaymentStatus *string   `json:"payment_status"`
	CustomerEmail *string   `json:"customer_email"`
	CustomerName  *string   `json:"customer_name"`
}

type lineItemJSON struct {
	Type            string   `json:"type"`
	ID              string   `json:"id"`
	ProductID       string   `json:"product_id"`
	Name            *string  `json:"name"`
	Description     *string  `json:"description"`
	Quantity        int      `json:"quantity"`
	UnitPrice       int64    `json:"unit_price"`
	Currency        string   `json:"currency"`
	ProrationFactor float64  `json:"proration_factor"`
	TaxInclusive    bool     `json:"tax_inclusive"`
	Tax             *int64   `json:"tax"`
	TaxRate         *float64 `json:"tax_rate"`
}

type summaryJSON struct {
	TotalAmount        int64  `json:"total_amount"`
	Currency           string `json:"currency"`
	SettlementAmount   int64  `json:"settlement_amount"`
	SettlementCurrency string `json:"settlement_currency"`
	CustomerCredits    int64  `json:"customer_credits"`
	Tax                *int64 `json:"tax"`
	SettlementTax      *int64 `json:"settlement_tax"`
}

type immediateChargeJSON struct {
	EffectiveAt time.Time      `json:"effective_at"`
	Summary     summaryJSON    `json:"summary"`
	LineItems   []lineItemJSON `json:"line_items"`
}

type previewJSON struct {
	NewPlan         subscriptionJSON    `json:"new_plan"`
	ImmediateCharge immediateChargeJSON `json:"immediate_charge"`
}

type envelopeJSON struct {
	BusinessID string    `json:"business_id"`
	Type       string    `json:"type"`
	Timestamp  time.Time `json:"timestamp"`
	Data       any       `json:"data"`
}

// Builders from the stand-in's records. The caller holds s.mu.

func ptr[T any](v T) *T { return &v }

// optional returns nil for "", so empty strings go out as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) customerLimited(id string) customerLimitedJSON {
	c := s.customers[id]
	return customerLimitedJSON{CustomerID: c.ID, Email: c.Email, Name: c.Name, PhoneNumber: optional(c.Phone), Metadata: json.RawMessage(`{}`)}
}

func (s *Server) customerJSON(c *customerRec) customerJSON {
	return customerJSON{
		CustomerID: c.ID, BusinessID: s.cfg.BusinessID, Email: c.Email, Name: c.Name,
		PhoneNumber: optional(c.Phone), Metadata: json.RawMessage(`{}`), CreatedAt: c.CreatedAt,
	}
}

func cardJSON(c *Card) paymentMethodJSON {
	out := paymentMethodJSON{
		PaymentMethodID: c.ID,
		PaymentMethod:   "card",
		Card: &cardSummaryJSON{
			CardHolderName:     optional(c.HolderName),
			CardIssuingCountry: optional(c.IssuingCountry),
			CardNetwork:        optional(c.Network),
			CardType:           optional(c.Type),
			// Judgement: the spec gives the expiry as strings without an
			// example; two-digit month and four-digit year.
			ExpiryMonth: ptr(twoDigits(c.ExpMonth)),
			ExpiryYear:  ptr(itoa(c.ExpYear)),
			Last4Digits: ptr(last4(c.Number)),
		},
		RecurringEnabled: c.RecurringEnabled,
	}
	// payment_method_type is one of the spec's PaymentMethodTypes, which
	// has "credit" and "debit".
	if t := strings.ToLower(c.Type); t == "credit" || t == "debit" {
		out.PaymentMethodType = &t
	}
	if !c.LastUsedAt.IsZero() {
		out.LastUsedAt = ptr(c.LastUsedAt.UTC())
	}
	return out
}

func (s *Server) productJSON(p *Product) productJSON {
	price := priceJSON{Type: "one_time_price", Price: p.Price, Currency: p.Currency, TaxInclusive: ptr(false)}
	if p.Recurring {
		price.Type = "recurring_price"
		price.PaymentFrequencyCount, price.PaymentFrequencyInterval = p.IntervalCount, p.Interval
		price.SubscriptionPeriodCount, price.SubscriptionPeriodInterval = p.PeriodCount, p.PeriodInterval
		price.TrialPeriodDays = ptr(0)
	}
	return productJSON{
		ProductID: p.ID, BusinessID: s.cfg.BusinessID, BrandID: s.cfg.BusinessID,
		Name: optional(p.Name), Description: optional(p.Description), IsRecurring: p.Recurring,
		Price: price, TaxCategory: p.TaxCategory, Metadata: json.RawMessage(`{}`),
		CreditEntitlements: []struct{}{}, Entitlements: []struct{}{},
		CreatedAt: p.CreatedAt, UpdatedAt: p.CreatedAt,
	}
}

func (s *Server) paymentJSON(p *payRec) paymentJSON {
	out := paymentJSON{
		PaymentID: p.ID, Status: ptr(p.Status), BusinessID: s.cfg.BusinessID, BrandID: s.cfg.BusinessID,
		PaymentProvider: "dodo", CheckoutSessionID: optional(p.CheckoutSessionID), SubscriptionID: optional(p.SubscriptionID),
		Customer: s.customerLimited(p.CustomerID), TotalAmount: p.TotalAmount, Currency: p.Currency,
		SettlementAmount: p.TotalAmount, SettlementCurrency: p.Currency, Billing: p.billing,
		PaymentMethod: ptr("card"), PaymentMethodID: optional(p.PaymentMethodID),
		ErrorCode: optional(p.ErrorCode), ErrorMessage: optional(p.ErrorMessage), Metadata: p.metadataRaw,
		Disputes: []struct{}{}, Refunds: []struct{}{}, CreatedAt: p.CreatedAt, UpdatedAt: ptr(p.updatedAt),
	}
	if p.ProductCart != nil {
		out.ProductCart = []cartItemJSON{}
		for _, it := range p.ProductCart {
			out.ProductCart = append(out.ProductCart, cartItemJSON(it))
		}
	}
	if c := p.card; c != nil {
		out.CardLastFour, out.CardNetwork, out.CardType = ptr(last4(c.Number)), optional(c.Network), optional(c.Type)
		out.CardIssuingCountry, out.CardHolderName = optional(c.IssuingCountry), optional(c.HolderName)
	}
	if p.Status == PaymentSucceeded {
		inv := "inv_" + strings.TrimPrefix(p.ID, "pay_")
		out.InvoiceID, out.InvoiceURL = &inv, ptr(testHost+"/invoices/payments/"+p.ID)
	}
	return out
}

func (s *Server) paymentListItem(p *payRec) paymentListItemJSON {
	full := s.paymentJSON(p)
	return paymentListItemJSON{
		PaymentID: full.PaymentID, Status: full.Status, BrandID: full.BrandID, PaymentProvider: full.PaymentProvider,
		SubscriptionID: full.SubscriptionID, Customer: full.Customer, TotalAmount: full.TotalAmount, Currency: full.Currency,
		PaymentMethod: full.PaymentMethod, PaymentMethodType: full.PaymentMethodType,
		CardLastFour: full.CardLastFour, CardNetwork: full.CardNetwork, Metadata: full.Metadata,
		InvoiceID: full.InvoiceID, InvoiceURL: full.InvoiceURL, CreatedAt: full.CreatedAt,
	}
}

// subscriptionJSON renders sub as it is, or as it would be on product p
// with quantity qty (a preview's new_plan) when p is not sub's product.
func (s *Server) subscriptionJSON(sub *subRec, p *Product, qty int) subscriptionJSON {
	out := subscriptionJSON{
		SubscriptionID: sub.ID, Status: sub.Status, ProductID: p.ID, Quantity: qty,
		Addons: []struct{}{}, BrandID: s.cfg.BusinessID, Customer: s.customerLimited(sub.CustomerID),
		Currency: p.Currency, RecurringPreTaxAmount: p.Price * int64(qty),
		PaymentFrequencyCount: p.IntervalCount, PaymentFrequencyInterval: p.Interval,
		SubscriptionPeriodCount: p.PeriodCount, SubscriptionPeriodInterval: p.PeriodInterval,
		PreviousBillingDate: sub.PeriodStart, NextBillingDate: sub.PeriodEnd, CreatedAt: sub.CreatedAt,
		CancelAtNextBillingDate: sub.CancelAtNextBillingDate, PaymentMethodID: optional(sub.PaymentMethodID),
		Billing:  s.subBilling(sub),
		Metadata: sub.metadata, Meters: []struct{}{}, CreditEntitlementCart: []struct{}{}, MeterCreditEntitlementCart: []struct{}{},
	}
	if c := sub.ScheduledChange; c != nil {
		np := s.products[c.ProductID]
		out.ScheduledChange = &scheduledChangeJSON{
			ID: c.ID, ProductID: c.ProductID, ProductName: optional(np.Name), ProductDescription: optional(np.Description),
			Quantity: c.Quantity, Addons: []addonJSON{}, EffectiveAt: c.EffectiveAt, CreatedAt: c.CreatedAt,
		}
	}
	return out
}

// testHost is where the stand-in pretends to live, for the URLs it hands out.
const testHost = "https://test.dodopayments.com"

func last4(number string) string { return number[len(number)-4:] }

func itoa(n int) string { return strconv.Itoa(n) }

func twoDigits(n int) string { return fmt.Sprintf("%02d", n) }
