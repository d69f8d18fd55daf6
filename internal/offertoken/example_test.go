package offertoken_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/offerflow/offerflow/internal/offertoken"
)

func Example() {
	// In production: offertoken.ParseKeys(getenv("OFFERFLOW_OFFER_KEY")).
	keys, err := offertoken.ParseKeys("k2:b2ZmZXJmbG93LW9mZmVyLWtleS10d28tMzItYnl0ZXM, k1:b2ZmZXJmbG93LW9mZmVyLWtleS1vbmUtMzItYnl0ZXM")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := offertoken.NewSigner(keys, time.Now)
	if err != nil {
		fmt.Println(err)
		return
	}
	token, _, err := s.Sign("off_123", "cus_456", 15*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The accept handler: verify, then claim the nonce once (a KV create)
	// before charging, with the nonce as the idempotency key.
	c, err := s.Verify(token, "off_123", "cus_456")
	fmt.Println(c.KeyID, len(c.Nonce), err)
	_, err = s.Verify(token, "off_123", "cus_789")
	fmt.Println(errors.Is(err, offertoken.ErrWrongCustomer))
	fmt.Println(keys[0])
	// Output:
	// k2 22 <nil>
	// true
	// offertoken.Key{ID:"k2", Secret:****(sha256:4d337c01)}
}
