package webhook_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/offerflow/offerflow/internal/webhook"
)

func ExampleVerifier_Verify() {
	// During a rotation DODO_WEBHOOK_SECRET holds the new and the old secret.
	secrets, err := webhook.ParseSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_b2ZmZXJmbG93LW9sZC1zZWNyZXQ=")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range secrets {
		fmt.Println(s) // only a fingerprint
	}
	sent := time.Unix(1614265330, 0)
	now := func() time.Time { return sent.Add(2 * time.Second) }
	v, err := webhook.NewVerifier(secrets, webhook.DefaultTolerance, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"test": 2432232314}`)
	h, err := v.Verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body)
	fmt.Println(h.ID, h.Timestamp, err)

	_, err = v.Verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614264000", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body)
	fmt.Println(errors.Is(err, webhook.ErrTimestampOutOfTolerance), err)
	// Output:
	// whsec_****(sha256:f74e1720)
	// whsec_****(sha256:fecc48f7)
	// msg_p5jXN8AQM9LWM0D4loKWxJek 2021-02-25 15:02:10 +0000 UTC <nil>
	// true webhook timestamp out of tolerance: too old by 17m12s (tolerance 5m0s); check the sender's clock
}
