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
