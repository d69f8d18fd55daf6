package main

import (
	"encoding/json"
	"time"
)

// The demo's webhook bodies, in the shapes of Dodo's OpenAPI spec
// (PaymentResponse, SubscriptionResponse, RefundResponse): the fields the
// spec requires, with values like its examples.

const demoBusiness = "bus_demo"

func customer(id string) map[string]any {
	return map[string]any{"customer_id": id, "email": "ana@example.com", "name": "Ana Ruiz", "phone_number": nil, "metadata": map[string]any{}}
}

func billing() map[string]any {
	return map[string]any{"country": "US", "state": "CA", "city": "San Francisco", "street": "123 Main St", "zipcode": "94102"}
}

func envelope(typ string, at time.Time, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"business_id": demoBusiness, "type": typ, "timestamp": at.Format(time.RFC3339Nano), "data": data})
	return b
}

func paymentSucceeded(at time.Time, cust, paymentID, productID string, amount int) []byte {
	return envelope("payment.succeeded", at, map[string]any{
		"payload_type": "Payment", "payment_id": paymentID, "status": "succeeded",
		"business_id": demoBusiness, "brand_id": demoBusiness, "payment_provider": "dodo",
		"subscription_id": nil, "customer": customer(cust),
		"product_cart": []map[string]any{{"product_id": productID, "quantity": 1}},
		"total_amount": amount, "currency": "USD", "settlement_amount": amount, "settlement_currency": "USD",
		"billing": billing(), "metadata": map[string]any{}, "disputes": []any{}, "refunds": []any{},
		"digital_products_delivered": false, "is_update_payment_method": false, "retry_attempt": 0,
		"payment_method": "card", "card_last_four": "4242", "card_network": "VISA",
		"created_at": at.Add(-3 * time.Second).Format(time.RFC3339Nano),
	})
}

func subscription(typ string, at time.Time, cust, subID, productID, status string, price int) []byte {
	return envelope(typ, at, map[string]any{
		"payload_type": "Subscription", "subscription_id": subID, "status": status,
		"product_id": productID, "quantity": 1, "addons": []any{}, "brand_id": demoBusiness,
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

func refundSucceeded(at time.Time, cust, paymentID string, amount int) []byte {
	return envelope("refund.succeeded", at, map[string]any{
		"payload_type": "Refund", "refund_id": "ref_demo_1", "payment_id": paymentID, "status": "succeeded",
		"amount": amount, "currency": "USD", "is_partial": false, "reason": "requested by customer",
		"customer": customer(cust), "metadata": map[string]any{}, "business_id": demoBusiness, "brand_id": demoBusiness,
		"created_at": at.Format(time.RFC3339Nano),
	})
}
