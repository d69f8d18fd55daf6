package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/offerflow/offerflow/contract"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// maxContractErrors bounds the violations one test reports: past a few,
// more of the same say nothing new.
const maxContractErrors = 10

// loadContract loads the published contract once per test binary.
var loadContract = sync.OnceValues(contract.Load)

// checkContract validates every message stored on offerflow's streams
// against the published contract (package contract): its subject must be
// a channel's, its headers and payload must match the channel's schemas.
// A message on a subject without a channel fails the test as well. Start
// runs it when the test ends, after the services stopped (so everything
// they published is there) and before the connection closes.
//
// Both streams are checked: OFFERFLOW holds what offerflow publishes for
// downstream services, and DODO_EVENTS the webhooks it stored, whose
// headers (webhook-*, Offerflow-*, Nats-Msg-Id) are offerflow's too.
// Messages a test published itself, deliberately outside the contract,
// are exempt only through WithOffContract.
func (e *Env) checkContract(t testing.TB, exempt map[string]bool) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Errorf("contract: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var violations []string
	checked, channels := 0, map[string]int{}
	for _, name := range []string{natsbus.EventsStream, natsbus.OutStream} {
		st, err := e.Conn.Stream(ctx, name)
		if err != nil {
			// Start failed before the services made the streams.
			if !t.Failed() {
				t.Errorf("contract: %v", err)
			}
			continue
		}
		// A scan that fails part way (Scan reports a message lost on the
		// way rather than skip it) is read again from the start: nothing
		// writes to the streams any more, so a second read sees the same.
		var v []string
		var n int
		var seen map[string]int
		for attempt := 1; ; attempt++ {
			v, n = nil, 0
			seen = map[string]int{}
			err = st.Scan(ctx, nil, func(m natsbus.StoredMsg) (bool, error) {
				if exempt[m.HeaderValue("Nats-Msg-Id")] {
					return false, nil
				}
				n++
				if ch, err := c.Channel(m.Subject); err == nil {
					seen[ch.ID]++
				}
				if err := c.Validate(m.Subject, m.Header, m.Data); err != nil {
					v = append(v, fmt.Sprintf("%s sequence %d on %s breaks the published contract (contract/asyncapi.yaml): %v\npayload: %s",
						name, m.Seq, m.Subject, err, clip(m.Data)))
				}
				return false, nil
			})
			if err == nil || attempt == 3 || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			t.Errorf("contract: read %s: %v", name, err)
		}
		violations = append(violations, v...)
		checked += n
		for id, k := range seen {
			channels[id] += k
		}
	}
	t.Logf("contract: %d messages checked, by channel: %v", checked, channels)
	for i, v := range violations {
		if i == maxContractErrors {
			t.Errorf("contract: %d of %d messages break the contract; the first %d are above", len(violations), checked, maxContractErrors)
			break
		}
		t.Errorf("contract: %s", v)
	}
}

// clip shortens a payload for a failure message.
func clip(b []byte) string {
	const max = 2048
	if len(b) > max {
		return fmt.Sprintf("%s... (%d bytes)", b[:max], len(b))
	}
	return string(b)
}

// WithOffContract exempts the messages with these Nats-Msg-Ids from the
// contract check when the test ends: for a test that publishes on
// offerflow's streams itself, on purpose, what offerflow never would (a
// malformed signal, to see it dead-lettered; a probe of the duplicate
// window). Everything offerflow publishes is still checked, including the
// dead letter such a message becomes.
func WithOffContract(msgIDs ...string) Option {
	return func(s *settings) {
		if s.offContract == nil {
			s.offContract = map[string]bool{}
		}
		for _, id := range msgIDs {
			s.offContract[id] = true
		}
	}
}
