package confirm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/tracing"
)

// SubjectPrefix is where confirmations are published:
// offerflow.confirmations.sent.<customer_id token>.
const SubjectPrefix = events.ConfirmationsPrefix

// Subject is the subject of a customer's confirmations. The customer id
// passes through natsbus.Token, so no id can add subject levels.
func Subject(customerID string) string {
	return SubjectPrefix + natsbus.Token(customerID)
}

// HeaderConfirmation is the email header that carries the confirmation's
// ID, for support staff and for merchants filtering their copies.
const HeaderConfirmation = "X-Offerflow-Confirmation"

// TypeSent is Sent.Type.
const TypeSent = "confirmation.sent"

// Channels of Sent.Channel.
const (
	ChannelEmail = "email" // the SMTP server accepted the email
	ChannelNone  = "none"  // no email: the confirmation has no address, or no SMTP is configured
)

// Ledger namespaces: "confirm.<id>" is the whole confirmation, and
// "confirm-email.<id>" its email alone (see Service).
const (
	ledgerConfirm = "confirm."
	ledgerEmail   = "confirm-email."
)

// Sent is the JSON message published once per confirmation on
// Subject(customer_id), with Nats-Msg-Id "confirm.<id>". Merchants who
// send their own emails, or show a notification in their app, subscribe
// to it. Every field is always present; strings are "" and numbers 0 when
// they do not apply.
type Sent struct {
	// ID is the confirmation's business key (Confirmation.ID).
	ID string `json:"id"`
	// Type is always "confirmation.sent".
	Type string `json:"type"`
	// Kind is offer_purchased, plan_upgraded, plan_downgraded,
	// access_granted, access_revoked or charge_failed.
	Kind Kind `json:"kind"`
	// CustomerID is Dodo's customer id.
	CustomerID string `json:"customer_id"`
	// Email is the customer's address, even when no email was sent, so a
	// merchant sending their own can use it. "" when unknown.
	Email string `json:"email"`
	// Language is the language the confirmation was rendered in ("en",
	// "es"), the best match for the customer's.
	Language string `json:"language"`
	// Subject is the rendered email subject, in Language.
	Subject string `json:"subject"`
	// Channel is "email" when the SMTP server accepted the email, and
	// "none" when no email was sent (no address, or no SMTP configured).
	Channel string `json:"channel"`
	// ProductID and ProductName are the product bought, granted or
	// revoked, or the new plan; FromProductName is the old plan of a plan
	// change.
	ProductID       string `json:"product_id"`
	ProductName     string `json:"product_name"`
	FromProductName string `json:"from_product_name"`
	// Currency is the ISO 4217 code, upper case; "" for access changes.
	Currency string `json:"currency"`
	// Amount is what was charged (charge_failed: what would have been), in
	// the currency's minor units (cents for USD, yen for JPY).
	Amount int64 `json:"amount"`
	// Credit is the credit Dodo keeps for future renewals (downgrades), in
	// minor units.
	Credit int64 `json:"credit"`
	// AmountFormatted and CreditFormatted are Amount and Credit as the
	// email shows them, in Language and the customer's region
	// ("$ 50.00", "€ 30,00"); "" when the amount is 0.
	AmountFormatted string `json:"amount_formatted"`
	CreditFormatted string `json:"credit_formatted"`
	// Features are the features gained (offer_purchased, plan_upgraded,
	// access_granted, the new plan's for plan_changed) or lost
	// (plan_downgraded, access_revoked); [] when none.
	Features []string `json:"features"`
	// LostFeatures are, for plan_changed, the old plan's features the new
	// one lacks; omitted when none.
	LostFeatures []string `json:"lost_features,omitempty"`
	// CheckoutURL is the standard checkout link offered after a failed
	// one-click charge (charge_failed).
	CheckoutURL string `json:"checkout_url"`
	// UpdatePaymentMethod is true when the customer was asked to update
	// their saved payment method (charge_failed).
	UpdatePaymentMethod bool `json:"update_payment_method"`
	// OfferID, PaymentID and SubscriptionID are the offer, Dodo payment
	// and Dodo subscription behind the change, where there is one.
	OfferID        string `json:"offer_id"`
	PaymentID      string `json:"payment_id"`
	SubscriptionID string `json:"subscription_id"`
	// At is when the business change happened (RFC 3339).
	At time.Time `json:"at"`
	// SentAt is when the confirmation was sent: after the email was
	// accepted, before the message was published (RFC 3339).
	SentAt time.Time `json:"sent_at"`
}

// Service sends confirmations exactly once in effect.
//
// Send is claim, do, commit, over two ledger keys:
//
//  1. Claim "confirm.<id>". Done: the confirmation went out earlier,
//     return nil. Held by a live claim: return natsbus.ErrClaimHeld
//     (transient; by the redelivery the holder has committed or its lease
//     has run out, and the claim is taken over).
//  2. Render; send the email under "confirm-email.<id>", claimed before
//     and committed as soon as the SMTP server accepts the message.
//  3. Publish the Sent message with Nats-Msg-Id "confirm.<id>", waiting
//     for JetStream's acknowledgement.
//  4. Commit "confirm.<id>".
//
// The email's own key means a failure after it (the publish, the commit,
// a crash) does not send the email again: the retry finds the email done
// and only publishes, which JetStream de-duplicates by the Nats-Msg-Id
// within the stream's duplicate window. A retry after a failed email (an
// SMTP outage) waits for the claim's lease to run out, as any retry of a
// claimed key does.
//
// The one case that sends an email twice: the SMTP server accepted it and
// the process died (or lost NATS) before committing "confirm-email.<id>".
// After the lease runs out another worker takes the claim over and sends
// again. The Message-ID is the same both times, derived from the id, so
// a receiver that de-duplicates on it shows one.
//
// Send returns errors and does not log them: the caller's consumer decides
// between redelivery and dead letter. Errors marked fault.Permanent (an
// invalid confirmation, a template that cannot render it, a 5xx from the
// SMTP server) will never succeed; anything else may.
type Service struct {
	ledger *natsbus.Ledger
	pub    *natsbus.Publisher
	mailer Mailer
	r      *Renderer
	log    *zap.Logger
	now    func() time.Time
	tracer trace.Tracer
}

// NewService returns a Service. mailer nil means publish only: every
// confirmation goes out as a message with channel "none". Each email
// handed to the mailer is a client span of tp (nil: none).
func NewService(ledger *natsbus.Ledger, pub *natsbus.Publisher, mailer Mailer, r *Renderer, log *zap.Logger, now func() time.Time, tp trace.TracerProvider) *Service {
	return &Service{ledger: ledger, pub: pub, mailer: mailer, r: r, log: log, now: now,
		tracer: tracing.Provider(tp).Tracer("github.com/offerflow/offerflow/internal/confirm")}
}

// Send sends c once; see Service.
func (s *Service) Send(ctx context.Context, c Confirmation) (err error) {
	if err := c.Validate(); err != nil {
		return fault.Permanent(err)
	}
	claim, err := s.ledger.Claim(ctx, ledgerConfirm+c.ID)
	if err != nil {
		return err
	}
	if claim.Done {
		return nil
	}
	defer s.releaseOnError(claim, &err)
	out, err := s.r.Render(c)
	if err != nil {
		return fault.Permanent(err)
	}
	channel := ChannelNone
	if c.Email != "" && s.mailer != nil {
		if err := s.sendEmail(ctx, c, out); err != nil {
			return err
		}
		channel = ChannelEmail
	}
	msg, err := s.message(c, out, channel)
	if err != nil {
		return err
	}
	ack, err := s.pub.Send(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish confirmation %s: %w", c.ID, err)
	}
	if err := s.ledger.Commit(ctx, claim); err != nil {
		return err
	}
	s.log.Debug("confirmation sent", zap.String("id", c.ID), zap.String("kind", string(c.Kind)),
		zap.String("channel", channel), zap.Bool("duplicate_publish", ack.Duplicate))
	return nil
}

// sendEmail sends c's email once, under its own ledger key.
func (s *Service) sendEmail(ctx context.Context, c Confirmation, out Rendered) (err error) {
	claim, err := s.ledger.Claim(ctx, ledgerEmail+c.ID)
	if err != nil {
		return err
	}
	if claim.Done {
		return nil
	}
	defer s.releaseOnError(claim, &err)
	if claim.TakenOver {
		// Not an error, and routine after an SMTP outage: the operator's
		// view of the one way an email can repeat (see Service).
		s.log.Info("confirmation email: taking over an earlier attempt that did not record its result; if it reached the SMTP server, the customer gets the email twice (same Message-ID)",
			zap.String("id", c.ID))
	}
	if err := s.email(ctx, c, out); err != nil {
		return err
	}
	return s.ledger.Commit(ctx, claim)
}

// email hands c's email to the mailer, as a client span (the SMTP
// session; the addresses stay out of the span, they are personal data).
func (s *Service) email(ctx context.Context, c Confirmation, out Rendered) error {
	ctx, span := s.tracer.Start(ctx, "confirm email", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("confirmation.id", c.ID), attribute.String("confirmation.kind", string(c.Kind))))
	defer span.End()
	err := s.mailer.Send(ctx, Message{
		To: c.Email, ToName: c.Name,
		Subject: out.Subject, Text: out.Text, HTML: out.HTML,
		MessageID: messageID(c.ID),
		Headers:   map[string]string{HeaderConfirmation: c.ID},
	})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return fmt.Errorf("email confirmation %s: %w", c.ID, err)
	}
	return nil
}

// messageID is the left part of the email's Message-ID for confirmation
// id: the same on every attempt, and made of characters a Message-ID
// allows (natsbus.Token's alphabet).
func messageID(id string) string {
	return "confirm." + natsbus.Token(id)
}

// message builds the Sent message for c.
func (s *Service) message(c Confirmation, out Rendered, channel string) (events.Message, error) {
	features := c.Features
	if features == nil {
		features = []string{}
	}
	body, err := json.Marshal(Sent{
		ID: c.ID, Type: TypeSent, Kind: c.Kind, CustomerID: c.CustomerID, Email: c.Email,
		Language: out.Language, Subject: out.Subject, Channel: channel,
		ProductID: c.ProductID, ProductName: c.ProductName, FromProductName: c.FromProductName,
		Currency: strings.ToUpper(c.Currency), Amount: c.Amount, Credit: c.Credit,
		AmountFormatted: out.Amount, CreditFormatted: out.Credit, Features: features, LostFeatures: c.LostFeatures,
		CheckoutURL: c.CheckoutURL, UpdatePaymentMethod: c.UpdatePaymentMethod,
		OfferID: c.OfferID, PaymentID: c.PaymentID, SubscriptionID: c.SubscriptionID,
		At: c.At.UTC(), SentAt: s.now().UTC(),
	})
	if err != nil {
		return events.Message{}, fault.Permanent(fmt.Errorf("encode confirmation %s: %w", c.ID, err))
	}
	return events.Message{Subject: Subject(c.CustomerID), ID: ledgerConfirm + c.ID, Data: body}, nil
}

// releaseOnError gives a claim back when the step it guards failed, so the
// retry (a redelivery, a redrive) claims it at once instead of waiting out
// the lease. A failed SMTP send is taken as not sent: the retry sends it,
// with the same Message-ID.
func (s *Service) releaseOnError(claim natsbus.Claim, err *error) {
	if *err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rerr := s.ledger.Release(ctx, claim); rerr != nil {
		s.log.Warn("release confirmation claim", zap.String("key", claim.Key), zap.Error(rerr))
	}
}
