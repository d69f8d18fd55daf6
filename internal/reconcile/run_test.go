package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

// failingDodo is Dodo answering in the spec's shapes (the objects of
// body_test.go) but failing where a test says: the outside edge, where the
// stand-in cannot fail on cue.
type failingDodo struct {
	payments    []wire.Payment
	paymentsErr error
	// subs are the listings by status ("" is the period's listing).
	subs    map[string][]wire.Subscription
	subsErr map[string]error
	getErr  map[string]error
	// onGet runs before each read of one object.
	onGet func(id string)
}

func (f *failingDodo) ListAllPayments(_ context.Context, p dodo.ListPaymentsParams) ([]wire.Payment, error) {
	if p.SubscriptionID != "" {
		return nil, nil
	}
	return f.payments, f.paymentsErr
}

func (f *failingDodo) ListAllSubscriptions(_ context.Context, p dodo.ListSubscriptionsParams) ([]wire.Subscription, error) {
	return f.subs[p.Status], f.subsErr[p.Status]
}

func (f *failingDodo) GetPaymentJSON(_ context.Context, id string) (json.RawMessage, error) {
	if f.onGet != nil {
		f.onGet(id)
	}
	if err := f.getErr[id]; err != nil {
		return nil, err
	}
	return json.RawMessage(strings.ReplaceAll(apiPayment, "pay_2KqX8mVbT3nR7cYw1Lz4d", id)), nil
}

func (f *failingDodo) GetSubscriptionJSON(_ context.Context, id string) (json.RawMessage, error) {
	if f.onGet != nil {
		f.onGet(id)
	}
	if err := f.getErr[id]; err != nil {
		return nil, err
	}
	return json.RawMessage(strings.ReplaceAll(apiSubscription, "sub_7EeHq2ewQuadropD2ra", id)), nil
}

// listed returns the list items of n payments pay_0..pay_n-1, as the
// objects of body_test.go are listed.
func listed(n int) []wire.Payment {
	var p wire.Payment
	if err := json.Unmarshal([]byte(apiPayment), &p); err != nil {
		panic(err)
	}
	out := make([]wire.Payment, n)
	for i := range out {
		out[i] = p
		out[i].PaymentID = fmt.Sprintf("pay_%d", i)
	}
	return out
}

func cancelledSub() wire.Subscription {
	var s wire.Subscription
	if err := json.Unmarshal([]byte(apiSubscription), &s); err != nil {
		panic(err)
	}
	return s
}

func TestRunWhenDodoFails(t *testing.T) {
	srv := natstest.Start(t)
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	store, err := natsbus.NewAccessStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	// The objects are from August 2026; the run looks at all of it.
	since, until := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return until }
	gone := errors.New("connection reset")
	tests := []struct {
		name        string
		dodo        *failingDodo
		cancelOn    string // cancel the run when this object is read
		wantErr     error  // nil: Run succeeds
		wantWarning string
		want        map[string]Action
	}{
		{
			name:        "the payments of the period do not fit the page bound",
			dodo:        &failingDodo{payments: listed(2), paymentsErr: fmt.Errorf("dodo GET /payments: stopped after 50 pages: %w", dodo.ErrTooManyPages)},
			wantErr:     ErrIncomplete,
			wantWarning: "list payments",
			want:        map[string]Action{"pay_0": ActionWouldFeed, "pay_1": ActionWouldFeed},
		},
		{
			name:        "the cancelled subscriptions of all time do not fit",
			dodo:        &failingDodo{subs: map[string][]wire.Subscription{"cancelled": {cancelledSub()}}, subsErr: map[string]error{"cancelled": fmt.Errorf("x: %w", dodo.ErrTooManyPages)}},
			wantWarning: "cancelled subscriptions",
			want:        map[string]Action{"sub_7EeHq2ewQuadropD2ra": ActionWouldFeed},
		},
		{
			name:    "listing fails",
			dodo:    &failingDodo{subsErr: map[string]error{"paused": gone}},
			wantErr: gone,
			want:    map[string]Action{},
		},
		{
			name:    "one payment cannot be read",
			dodo:    &failingDodo{payments: listed(3), getErr: map[string]error{"pay_1": gone}},
			wantErr: ErrIncomplete,
			want:    map[string]Action{"pay_0": ActionWouldFeed, "pay_1": ActionFailed, "pay_2": ActionWouldFeed},
		},
		{
			name:     "stopped before publishing",
			dodo:     &failingDodo{payments: listed(2), subs: map[string][]wire.Subscription{"": {cancelledSub()}}},
			cancelOn: "sub_7EeHq2ewQuadropD2ra",
			wantErr:  context.Canceled,
			// All were decided and queued, none published.
			want: map[string]Action{"pay_0": ActionFailed, "pay_1": ActionFailed, "sub_7EeHq2ewQuadropD2ra": ActionFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tt.dodo.onGet = func(id string) {
				if id == tt.cancelOn {
					cancel()
				}
			}
			// A dry run, except where publishing is what is tested.
			dry := tt.cancelOn == ""
			rep, err := Run(ctx, Deps{Dodo: tt.dodo, Publisher: natsbus.NewPublisher(js, 10*time.Second), Access: store, Now: now}, Options{Since: since, Until: until, DryRun: dry})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Run: got %v, want %v", err, tt.wantErr)
			}
			if tt.wantWarning != "" && (len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], tt.wantWarning)) {
				t.Errorf("warnings: got %q, want one about %s", rep.Warnings, tt.wantWarning)
			}
			got := map[string]Action{}
			for _, it := range rep.Items {
				got[it.ID] = it.Action
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("items: got %v, want %v\n%+v", got, tt.want, rep.Items)
			}
			if n := len(natstest.Messages(t, js, natsbus.EventsStream, "")); n != 0 {
				t.Fatalf("DODO_EVENTS has %d messages, want none", n)
			}
		})
	}
}
