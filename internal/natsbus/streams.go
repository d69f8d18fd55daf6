// Package natsbus holds all of offerflow's JetStream wiring: the connection
// (Conn), the streams and key-value buckets, the publisher of
// events.Message, the worker's consumer runtime with its single ack policy,
// the idempotency ledger, the access store, the offer store with its
// single-use token nonces, and reading stored messages (Stream, Follow).
//
// Outside natsbus (and its naive reference) only the embedded server and
// tests import nats.go: the domain packages (events, access, rules) stay
// free of it, and the services and cmd/* hold a *Conn and natsbus's types.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

// Names of the streams and buckets. They are part of offerflow's external
// contract (see the design brief): downstream services bind to them.
const (
	EventsStream   = events.StreamEvents
	EventsSubjects = events.SubjectEvents
	OutStream      = events.StreamOut
	OutSubjects    = events.SubjectOut
	LedgerBucket   = "OFFERFLOW_LEDGER"
	AccessBucket   = "OFFERFLOW_ACCESS"
	OffersBucket   = "OFFERFLOW_OFFERS"
	TokensBucket   = "OFFERFLOW_TOKENS"

	// WorkerConsumer is the durable pull consumer every worker replica binds
	// to, so that replicas share the work instead of each seeing every event.
	WorkerConsumer = "offerflow-worker"
)

// StreamSettings are the durability knobs an operator sets. Zero values are
// replaced by DefaultStreamSettings' values in EnsureStreams.
type StreamSettings struct {
	// Replicas is the JetStream replication factor of streams and buckets:
	// 1 for a single server, 3 for a production cluster.
	Replicas int
	// MaxAge is how long DODO_EVENTS and OFFERFLOW keep messages. Events stay
	// replayable (and dead letters inspectable) for this long.
	MaxAge time.Duration
	// Duplicates is the stream's de-duplication window on Nats-Msg-Id. It
	// must cover a publisher's retry after a timeout or a crash; the
	// worker's ledger covers everything longer (Dodo retries for ~27 h).
	Duplicates time.Duration
	// MaxBytes bounds each stream; when full, new publishes are refused
	// (DiscardNew) so Dodo retries, instead of silently dropping the oldest,
	// possibly unprocessed, events. 0 means unlimited.
	MaxBytes int64
	// AsyncPersist lets the server acknowledge a publish before it has
	// written it (JetStream's AsyncPersistMode, R1 file storage only).
	// Faster, and wrong for payments: a PubAck would no longer mean stored.
	AsyncPersist bool
	// LedgerTTL is how long the idempotency ledger remembers a webhook-id.
	// Dodo retries for about 27 h and its dashboard can replay at any time,
	// so it must be at least MinLedgerTTL.
	LedgerTTL time.Duration
	// TokenTTL is how long a used offer token's nonce is remembered. It
	// must outlive every token (offertoken refuses an expired one), or a
	// token could be used twice once its nonce is forgotten.
	TokenTTL time.Duration
	// OfferRetention is how long an offer is kept after its last change:
	// every write of an offer carries it as the message's TTL, so an
	// ended offer leaves the offers bucket this long after it ended. It
	// must outlive every open offer (MinOfferRetention).
	OfferRetention time.Duration
}

// MinOfferRetention is the shortest offer retention offerflow accepts: longer
// than the longest an offer can stay open (7 days) and be swept.
const MinOfferRetention = 30 * 24 * time.Hour

// offerRetentionKey is the offers bucket's metadata key that holds the
// retention the services chose, for tools that write offers without owning
// the settings (reconcile).
const offerRetentionKey = "offerflow_offer_retention"

// MinLedgerTTL is the shortest ledger retention offerflow accepts.
const MinLedgerTTL = 7 * 24 * time.Hour

// DefaultStreamSettings are safe for a single server: R1, 30 days of
// history, a 10 minute duplicate window, and synchronous persistence.
func DefaultStreamSettings() StreamSettings {
	return StreamSettings{
		Replicas:   1,
		MaxAge:     30 * 24 * time.Hour,
		Duplicates: 10 * time.Minute,
		LedgerTTL:  14 * 24 * time.Hour,
		TokenTTL:   30 * 24 * time.Hour,
		// As long as the offer index remembers an ended offer for the
		// rules' caps.
		OfferRetention: offers.IndexShownRetention,
	}
}

func (s StreamSettings) withDefaults() StreamSettings {
	d := DefaultStreamSettings()
	if s.Replicas == 0 {
		s.Replicas = d.Replicas
	}
	if s.MaxAge == 0 {
		s.MaxAge = d.MaxAge
	}
	if s.Duplicates == 0 {
		s.Duplicates = d.Duplicates
	}
	if s.LedgerTTL == 0 {
		s.LedgerTTL = d.LedgerTTL
	}
	if s.TokenTTL == 0 {
		s.TokenTTL = d.TokenTTL
	}
	if s.OfferRetention == 0 {
		s.OfferRetention = d.OfferRetention
	}
	return s
}

// Validate reports settings JetStream would refuse, or that would make
// offerflow unsafe, with a message an operator can act on.
func (s StreamSettings) Validate() error {
	s = s.withDefaults()
	var errs []error
	if s.Replicas < 1 || s.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas must be 1..5, got %d", s.Replicas))
	}
	if s.Duplicates < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("duplicate window must be at least 100ms, got %s", s.Duplicates))
	}
	if s.Duplicates > s.MaxAge {
		errs = append(errs, fmt.Errorf("duplicate window %s is longer than max age %s", s.Duplicates, s.MaxAge))
	}
	if s.LedgerTTL < MinLedgerTTL {
		errs = append(errs, fmt.Errorf("ledger ttl must be at least %s (Dodo retries for ~27h and replays any time), got %s", MinLedgerTTL, s.LedgerTTL))
	}
	if s.TokenTTL < 0 {
		errs = append(errs, fmt.Errorf("token ttl must be > 0, got %s", s.TokenTTL))
	}
	if s.OfferRetention < MinOfferRetention {
		errs = append(errs, fmt.Errorf("offer retention must be at least %s (an offer can stay open for 7 days), got %s", MinOfferRetention, s.OfferRetention))
	}
	if s.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("stream max bytes must be >= 0, got %d", s.MaxBytes))
	}
	if s.AsyncPersist && s.Replicas != 1 {
		errs = append(errs, errors.New("async persist is only supported with 1 replica"))
	}
	return errors.Join(errs...)
}

func (s StreamSettings) streamConfig(name, subjects, desc string) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        name,
		Description: desc,
		Subjects:    []string{subjects},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.MaxAge,
		Duplicates:  s.Duplicates,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    -1,
		MaxMsgs:     -1,
	}
	if s.MaxBytes > 0 {
		cfg.MaxBytes = s.MaxBytes
	}
	if s.AsyncPersist {
		cfg.PersistMode = jetstream.AsyncPersistMode
	}
	return cfg
}

// EnsureStreams creates or updates the two streams and the key-value
// buckets. Every service calls it at start, so whichever starts first
// creates them; the calls are idempotent, and a race between two services
// creating the same stream is retried.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, s StreamSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s = s.withDefaults()
	streams := []jetstream.StreamConfig{
		s.streamConfig(EventsStream, EventsSubjects, "Dodo Payments webhooks, raw signed bodies keyed by webhook-id"),
		s.streamConfig(OutStream, OutSubjects, "everything offerflow publishes: offers, access, confirmations, dead letters"),
	}
	for _, cfg := range streams {
		if err := retryRace(ctx, func() error {
			_, err := js.CreateOrUpdateStream(ctx, cfg)
			return err
		}); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	buckets := []jetstream.KeyValueConfig{
		{
			Bucket:      LedgerBucket,
			Description: "idempotency ledger: one key per processed webhook-id",
			TTL:         s.LedgerTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    s.Replicas,
		},
		{
			Bucket:      AccessBucket,
			Description: "access per customer: products, their sources and state",
			History:     5,
			Storage:     jetstream.FileStorage,
			Replicas:    s.Replicas,
		},
		{
			Bucket:      OffersBucket,
			Description: "offers by id, with their state; per customer indexes; per rule stats",
			History:     5,
			Storage:     jetstream.FileStorage,
			Replicas:    s.Replicas,
			// Allows the per-message TTL that offers are written with,
			// and leaves a marker for an hour where one removed a key.
			LimitMarkerTTL: time.Hour,
			Metadata:       map[string]string{offerRetentionKey: s.OfferRetention.String()},
		},
		{
			Bucket:      TokensBucket,
			Description: "used offer-token nonces: one key per accepted token",
			TTL:         s.TokenTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    s.Replicas,
		},
	}
	for _, cfg := range buckets {
		if err := retryRace(ctx, func() error {
			_, err := js.CreateOrUpdateKeyValue(ctx, cfg)
			return err
		}); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// CheckStreams reports whether the streams and buckets exist; /readyz uses
// it.
func CheckStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, name := range []string{EventsStream, OutStream, "KV_" + LedgerBucket, "KV_" + AccessBucket, "KV_" + OffersBucket, "KV_" + TokensBucket} {
		if _, err := js.Stream(ctx, name); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// retryRace retries fn a few times: two services starting together can both
// see a stream as missing and both try to create it; the loser gets an
// "already in use" error that a second CreateOrUpdate resolves.
func retryRace(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = fn(); err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && !errors.Is(err, jetstream.ErrBucketExists) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return err
}
