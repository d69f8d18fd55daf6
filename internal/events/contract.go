package events

// The streams and subjects of offerflow's contract with downstream services,
// defined here once: every other package (and a downstream service in Go)
// uses these names. A test (TestSubjectsDefinedOnce) keeps subject literals
// out of the other packages.
const (
	// StreamEvents holds every verified webhook, on SubjectPrefix + type.
	StreamEvents = "DODO_EVENTS"
	// SubjectEvents is StreamEvents' subjects.
	SubjectEvents = SubjectPrefix + ">"

	// StreamOut holds everything offerflow publishes, under OutPrefix.
	StreamOut = "OFFERFLOW"
	// OutPrefix starts every subject offerflow publishes.
	OutPrefix = "offerflow."
	// SubjectOut is StreamOut's subjects.
	SubjectOut = OutPrefix + ">"

	// AccessPrefix + "granted"|"revoked" + "." + customer token: access
	// changes.
	AccessPrefix = OutPrefix + "access."
	// OffersPrefix + event + "." + customer token: an offer's states.
	OffersPrefix = OutPrefix + "offers."
	// ConfirmationsPrefix + customer token: confirmations sent.
	ConfirmationsPrefix = OutPrefix + "confirmations.sent."
	// SignalsPrefix + customer token: the merchant app's signals.
	SignalsPrefix = OutPrefix + "signals."
	// DeadLetterPrefix + the original subject without SubjectPrefix: dead
	// letters.
	DeadLetterPrefix = OutPrefix + "deadletter."
)

// The headers of the contract. A stored webhook keeps the three webhook-*
// headers Dodo sent (names in lower case, as sent), so anyone can verify it
// again; offerflow's own headers start with Offerflow-.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	// HeaderReconciled marks an event offerflow built itself from Dodo's
	// API (offerflow reconcile) rather than received from Dodo: it has no
	// signature, and may be days old.
	HeaderReconciled = "Offerflow-Reconciled"
	// HeaderRedrivenFrom is on a webhook an operator redrove from a dead
	// letter: the dead letter's stream sequence.
	HeaderRedrivenFrom = "Offerflow-Redriven-From"
	// HeaderDLQPrefix starts every header a dead letter carries beside
	// the original's: why it failed, its kind, where it came from.
	HeaderDLQPrefix     = "Offerflow-Dlq-"
	HeaderDLQReason     = HeaderDLQPrefix + "Reason"
	HeaderDLQKind       = HeaderDLQPrefix + "Kind"
	HeaderDLQSubject    = HeaderDLQPrefix + "Subject"
	HeaderDLQStream     = HeaderDLQPrefix + "Stream"
	HeaderDLQStreamSeq  = HeaderDLQPrefix + "Stream-Seq"
	HeaderDLQDeliveries = HeaderDLQPrefix + "Deliveries"
	HeaderDLQDeadAt     = HeaderDLQPrefix + "Dead-At"
	// HeaderTraceParent and HeaderTraceState are the W3C trace context of
	// the span that stored a webhook or a signal, when tracing is on
	// (internal/tracing writes them, in lower case as W3C names them).
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)
