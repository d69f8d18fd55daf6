// Package payload writes webhook bodies in the shapes of Dodo's OpenAPI
// spec (PaymentResponse, SubscriptionResponse, RefundResponse): the fields
// the spec requires, with values like its examples. The dev demo sends them
// to the ingest; the benchmarks fill their streams with them.
//
// They are sample data, unsigned; internal/webhook signs them and
// internal/events reads them.
package payload

import (
	"encoding/json"
	"time"
)

// business is the business_id and brand_id of every body.
const business = "bus_demo"

func customer(id string) map[string]any {
	return map[string]any{"customer_id": id, "email": "ana@example.com", "name": "Ana Ruiz", "phone_number": nil, "metadata": map[string]any{}}
}

func billing() map[string]any {
	return map[string]any{"country": "US", "state": "CA", "city": "San Francisco", "street": "123 Main St", "zipcode": "94102"}
}

func envelope(typ string, at time.Time, data map[string]any) []byte {
	// Maps of strings, numbers and nil always encode.
	b, _ := json.Marshal(map[string]any{"business_id": business, "type": typ, "timestamp": at.Format(time.RFC3339Nano), "data": data})
	return b
}

// PaymentSucceeded is a payment.succeeded event at the given time: one
// product bought by card (VISA 4242) for amount in minor units of USD.
func PaymentSucceeded(at time.Time, cust, paymentID, productID string, amount int) []byte {
	return envelope("payment.succeeded", at, map[string]any{
		"payload_type": "Payment", "payment_id": paymentID, "status": "succeeded",
		"business_id": business, "brand_id": business, "payment_provider": "dodo",
		"subscription_id": nil, "customer": customer(cust),
		"product_cart": []map[string]any{{"product_id": productID, "quantity": 1}},
		"total_amount": amount, "currency": "USD", "settlement_amount": amount, "settlement_currency": "USD",
		"billing": billing(), "metadata": map[string]any{}, "disputes": []any{}, "refunds": []any{},
		"digital_products_delivered": false, "is_update_payment_method": false, "retry_attempt": 0,
		"payment_method": "card", "card_last_four": "4242", "card_network": "VISA",
		"created_at": at.Add(-3 * time.Second).Format(time.RFC3339Nano),
	})
}

// Subscription is a subscription event of type typ (subscription.active,
// subscription.plan_changed, ...) at the given time: a monthly subscription
// to productID in the given status, at price minor units of USD.
func Subscription(typ string, at time.Time, cust, subID, productID, status string, price int) []byte {
	return envelope(typ, at, map[string]any{
		"payload_type": "Subscription", "subscription_id": subID, "status": status,
		"product_id": productID, "quantity": 1, "addons": []any{}, "brand_id": business,
		"customer": customer(cust), "currency": "USD", "recurring_pre_tax_amount": price, "tax_inclusive": false,
		"payment_frequency_count": 1, "payment_frequency_interval": "Month",
		"subscription_period_count": 1, "subscription_period_interval": "Year",
		"previous_billing_date": at.Format(time.RFC3339Nano), "next_billing_date": at.AddDate(0, 1, 0).Format(time.RFC3339Nano),
		"created_at": at.Format(time.RFC3339Nano), "trial_period_days": 0, "on_demand": false,
		"cancel_at_next_billing_date": false, "billing": billing(), "metadata": map[string]any{},
		"meters": []any{}, "credit_entitlement_cart": []any{}, "meter_credit_entitlement_cart": []any{},
		"scheduled_change": nil, "payment_method_id": "pm_demo_visa",
	})
}

// RefundSucceeded is a refund.succeeded event at the given time: the full
// refund of paymentID, amount minor units of USD.
func RefundSucceeded(at time.Time, cust, paymentID string, amount int) []byte {
	return envelope("refund.succeeded", at, map[string]any{
		"payload_type": "Refund", "refund_id": "ref_demo_1", "payment_id": paymentID, "status": "succeeded",
		"amount": amount, "currency": "USD", "is_partial": false, "reason": "requested by customer",
		"customer": customer(cust), "metadata": map[string]any{}, "business_id": business, "brand_id": business,
		"created_at": at.Format(time.RFC3339Nano),
	})
}
