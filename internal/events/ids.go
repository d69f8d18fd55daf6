package events

import (
	"fmt"
)

// MaxIDLen bounds every id that comes from outside (Dodo's customer,
// product, subscription, payment and refund ids, webhook-ids, the app's
// signal and request ids). Such ids become NATS subjects, KV keys and
// Nats-Msg-Id values, and parts of ids derived from them: unbounded, a
// customer id of a few KB made a KV key longer than NATS's control line,
// and nats.go closed the connection. Dodo's own ids are about 30 bytes.
const MaxIDLen = 128

// CheckID reports whether id is an id offerflow accepts: 1 to MaxIDLen
// bytes of printable ASCII without spaces (0x21 to 0x7E). The error names
// field.
func CheckID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s is empty", field)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%s is %d bytes, over the %d allowed", field, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%s has a byte outside printable ASCII (no spaces) at offset %d", field, i)
		}
	}
	return nil
}

// CheckIDs checks the ids of an event's payload that offerflow stores or
// publishes under (customer, product, subscription, payment, refund), each
// with CheckID; absent ones are left to the handlers. The error names the
// field, for the dead letter's reason.
func (e Event) CheckIDs() error {
	var ids [][2]string
	switch p := e.Payload.(type) {
	case *Payment:
		if p == nil {
			return nil
		}
		ids = append(ids, [2]string{"data.payment_id", p.PaymentID}, [2]string{"data.customer.customer_id", p.Customer.CustomerID})
		if p.SubscriptionID != nil {
			ids = append(ids, [2]string{"data.subscription_id", *p.SubscriptionID})
		}
		for i, id := range p.SubscriptionIDs {
			ids = append(ids, [2]string{fmt.Sprintf("data.subscription_ids[%d]", i), id})
		}
		for i, item := range p.ProductCart {
			ids = append(ids, [2]string{fmt.Sprintf("data.product_cart[%d].product_id", i), item.ProductID})
		}
	case *Subscription:
		if p == nil {
			return nil
		}
		ids = append(ids, [2]string{"data.subscription_id", p.SubscriptionID}, [2]string{"data.customer.customer_id", p.Customer.CustomerID},
			[2]string{"data.product_id", p.ProductID})
	case *Refund:
		if p == nil {
			return nil
		}
		ids = append(ids, [2]string{"data.refund_id", p.RefundID}, [2]string{"data.payment_id", p.PaymentID},
			[2]string{"data.customer.customer_id", p.Customer.CustomerID})
	default:
		ids = append(ids, [2]string{"customer id", e.CustomerID()})
	}
	for _, f := range ids {
		if f[1] == "" {
			continue
		}
		if err := CheckID(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}
