package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dlq"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

const dlqUsage = `usage: offerflow dlq <command> [flags]

commands:
  list     [-type T,...] [-customer C] [-since T] [-until T] [-reason S] [-kind K] [-limit N] [-json]
  show     SEQ [-json]
  redrive  (-seq N,... | list's filters | -all) [-execute] [-json]

Dead letters are read from the OFFERFLOW stream of the NATS server at NATS_URL
(NATS_CREDS: credentials file). Reading changes nothing. redrive is a dry run
unless -execute is given; it re-verifies every signature with DODO_WEBHOOK_SECRET.
-since and -until take an RFC 3339 time (2026-09-01T10:00:00Z), a date
(2026-09-01, UTC), or a duration ago (90m, 24h, 7d).

Run 'offerflow dlq <command> -h' for a command's flags.
`

// runDLQ is offerflow dlq list|show|redrive.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, dlqUsage)
		return errors.New("dlq needs a command: list, show or redrive")
	}
	// Relative times (-since 24h) count back from the moment the command
	// starts.
	now := time.Now()
	switch args[0] {
	case "list":
		return runDLQList(ctx, args[1:], getenv, stdout, now)
	case "show":
		return runDLQShow(ctx, args[1:], getenv, stdout)
	case "redrive":
		return runDLQRedrive(ctx, args[1:], getenv, stdout, now)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dlqUsage)
		return nil
	}
	fmt.Fprint(stdout, dlqUsage)
	return fmt.Errorf("unknown dlq command %q (list, show or redrive)", args[0])
}

// dlqFlags are the settings and filters the dlq commands share.
type dlqFlags struct {
	set      *conf.Set
	natsURL  string
	creds    string
	secrets  string
	filter   dlq.Filter
	selected bool // a filter flag was given
	json     bool
}

// newDLQFlags declares the connection settings (flag or environment, as
// for the services) and -json. what is the synopsis usage prints.
func newDLQFlags(name, what string, getenv func(string) string, stdout io.Writer) *dlqFlags {
	f := &dlqFlags{set: conf.New("offerflow dlq "+name, getenv, stdout)}
	// Secret, not String: a URL may carry a password, and usage would
	// print it as the default.
	f.set.Secret(&f.natsURL, "nats-url", "NATS_URL", "NATS server URL(s), comma-separated (required)")
	f.set.String(&f.creds, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	fs := f.set.FlagSet()
	fs.BoolVar(&f.json, "json", false, "print JSON, one object per line")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: offerflow dlq %s\n\nflags:\n", what)
		fs.PrintDefaults()
	}
	return f
}

// declareFilters adds list's filters. They set f.selected, which redrive
// needs before it touches anything.
func (f *dlqFlags) declareFilters(now time.Time, limit int) {
	fs := f.set.FlagSet()
	mark := func(v flag.Value) flag.Value { return selecting{v, &f.selected} }
	fs.Var(mark(typesFlag{&f.filter.Types}), "type", "event `types`, comma-separated (payment.succeeded, subscription.*, _invalid.json)")
	fs.Var(mark(stringFlag{&f.filter.CustomerID}), "customer", "customer `id` (data.customer.customer_id or data.customer_id of the body)")
	fs.Var(mark(whenFlag{&f.filter.Since, now}), "since", "dead-lettered at or after this `time`: RFC 3339, a date, or a duration ago (24h, 7d)")
	fs.Var(mark(whenFlag{&f.filter.Until, now}), "until", "dead-lettered before this `time`: RFC 3339, a date, or a duration ago")
	fs.Var(mark(stringFlag{&f.filter.Reason}), "reason", "`text` in the reason, any case")
	fs.Var(mark(kindFlag{&f.filter.Kind}), "kind", "`kind` of dead letter: permanent or max_deliveries")
	fs.IntVar(&f.filter.Limit, "limit", limit, "at most this many dead letters, oldest first; 0: no limit")
}

// parse parses args and returns the positional arguments, which may come
// before, between or after the flags (offerflow dlq show 12 -json).
func (f *dlqFlags) parse(args []string) ([]string, error) {
	fs := f.set.FlagSet()
	var pos []string
	for {
		if err := f.set.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageError prints the command's usage under err and returns err, as the
// flag package does for the errors it finds itself.
func (f *dlqFlags) usageError(err error) error {
	fs := f.set.FlagSet()
	fmt.Fprintln(fs.Output(), err)
	fs.Usage()
	return err
}

// connect dials NATS; the caller closes the connection. The dlq commands
// never create streams: a server without OFFERFLOW is the wrong server.
func (f *dlqFlags) connect() (*natsbus.Conn, error) {
	return natsbus.Connect(natsbus.Dial{URL: f.natsURL, Creds: f.creds, Name: "offerflow-dlq"})
}

func (f *dlqFlags) requireURL() error {
	if f.natsURL == "" {
		return errors.New("NATS_URL is required: the URL of offerflow's NATS server")
	}
	return nil
}

func runDLQList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, now time.Time) error {
	f := newDLQFlags("list", "list [-type T,...] [-customer C] [-since T] [-until T] [-reason S] [-kind K] [-limit N] [-json]", getenv, stdout)
	f.declareFilters(now, 100)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.usageError(fmt.Errorf("list takes no arguments, got %q", pos))
	}
	if err := errors.Join(f.filter.Validate(), f.requireURL()); err != nil {
		return f.usageError(err)
	}
	conn, err := f.connect()
	if err != nil {
		return err
	}
	defer conn.Close()

	limit := f.filter.Limit
	if limit > 0 {
		f.filter.Limit++ // one more, to tell whether there are more
	}
	var tw *tabwriter.Writer
	enc := json.NewEncoder(stdout)
	if !f.json {
		tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tDEAD AT\tTYPE\tCUSTOMER\tWEBHOOK ID\tDELIVERIES\tKIND\tREASON")
	}
	n, more := 0, false
	err = dlq.Scan(ctx, conn, f.filter, func(e dlq.Entry) error {
		if limit > 0 && n == limit {
			more = true
			return nil
		}
		n++
		if f.json {
			return enc.Encode(e)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, formatTime(e.DeadAt), cell(e.EventType, 40), cell(e.CustomerID, 32),
			cell(e.WebhookID, 40), e.Deliveries, cell(e.Kind, 16), cell(e.Reason, 60))
		return nil
	})
	if err != nil {
		return err
	}
	if f.json {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case more:
		fmt.Fprintf(stdout, "%d dead letters shown; more match: raise -limit or narrow the filter\n", n)
	case n == 0:
		fmt.Fprintln(stdout, "no dead letters match")
	default:
		fmt.Fprintf(stdout, "%d dead letter(s)\n", n)
	}
	return nil
}

func runDLQShow(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newDLQFlags("show", "show SEQ [-json]", getenv, stdout)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.usageError(fmt.Errorf("show takes one dead letter sequence, got %d arguments", len(pos)))
	}
	seq, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil || seq == 0 {
		return f.usageError(fmt.Errorf("sequence %q: want a positive integer (the SEQ column of dlq list)", pos[0]))
	}
	if err := f.requireURL(); err != nil {
		return f.usageError(err)
	}
	conn, err := f.connect()
	if err != nil {
		return err
	}
	defer conn.Close()
	e, m, err := dlq.Show(ctx, conn, seq)
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(showJSON(e, m))
	}
	printDeadLetter(stdout, e, m)
	return nil
}

// dlqShowJSON is show -json's object: the entry's fields, every header,
// and the body, as JSON when it is JSON and as text otherwise.
type dlqShowJSON struct {
	dlq.Entry
	Headers  map[string][]string `json:"headers"`
	Body     json.RawMessage     `json:"body,omitempty"`
	BodyText *string             `json:"body_text,omitempty"`
}

func showJSON(e dlq.Entry, m dlq.Message) dlqShowJSON {
	out := dlqShowJSON{Entry: e, Headers: m.Headers}
	if json.Valid(m.Body) {
		out.Body = m.Body
	} else {
		s := string(m.Body)
		out.BodyText = &s
	}
	return out
}

func printDeadLetter(w io.Writer, e dlq.Entry, m dlq.Message) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dead letter\t%d on %s\n", e.Seq, printable(e.Subject))
	fmt.Fprintf(tw, "original subject\t%s\n", printable(e.OriginalSubject))
	fmt.Fprintf(tw, "event type\t%s\n", printable(e.EventType))
	fmt.Fprintf(tw, "webhook id\t%s\n", printable(e.WebhookID))
	fmt.Fprintf(tw, "customer\t%s\n", cell(e.CustomerID, 256))
	fmt.Fprintf(tw, "kind\t%s after %d deliveries\n", printable(e.Kind), e.Deliveries)
	fmt.Fprintf(tw, "dead at\t%s\n", formatTime(e.DeadAt))
	fmt.Fprintf(tw, "reason\t%s\n", printable(e.Reason))
	if e.RedrivenFrom != 0 {
		fmt.Fprintf(tw, "redriven from\t%d (it failed again after a redrive)\n", e.RedrivenFrom)
	}
	if e.Reconciled {
		fmt.Fprintf(tw, "reconciled\tbuilt by offerflow from Dodo's API, unsigned\n")
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nheaders:")
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range m.Headers[k] {
			fmt.Fprintf(w, "  %s: %s\n", printable(k), printable(v))
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, m.Body, "", "  ") == nil {
		fmt.Fprintf(w, "\nbody (%d bytes, JSON):\n", len(m.Body))
	} else {
		pretty.Reset()
		pretty.Write(m.Body)
		fmt.Fprintf(w, "\nbody (%d bytes, not JSON):\n", len(m.Body))
	}
	fmt.Fprintln(w, printableBlock(pretty.String()))
}

func runDLQRedrive(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, now time.Time) error {
	f := newDLQFlags("redrive", "redrive (-seq N,... | -type ... -customer ... -since ... -until ... -reason ... -kind ... | -all) [-execute] [-json]", getenv, stdout)
	f.set.Secret(&f.secrets, "webhook-secret", "DODO_WEBHOOK_SECRET", "whsec_ secrets to re-verify signatures with, separated by spaces or commas (required)")
	f.declareFilters(now, 0)
	fs := f.set.FlagSet()
	var all, execute bool
	fs.Var(selecting{seqsFlag{&f.filter.Seqs}, &f.selected}, "seq", "dead letter `sequences`, comma-separated; N-M for a range")
	fs.BoolVar(&all, "all", false, "select every dead letter (when no -seq or filter is given)")
	fs.BoolVar(&execute, "execute", false, "redrive for real; without it, only report what would happen")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.usageError(fmt.Errorf("redrive takes no arguments, got %q (use -seq)", pos))
	}
	checker, err := f.redriveChecker(all)
	if err != nil {
		return f.usageError(err)
	}
	conn, err := f.connect()
	if err != nil {
		return err
	}
	defer conn.Close()

	entries, err := dlq.List(ctx, conn, f.filter)
	if err != nil {
		return err
	}
	missing := missingSeqs(ctx, conn, f.filter.Seqs, entries)
	results, rerr := dlq.Redrive(ctx, conn, checker, entries, !execute)
	results = append(missing, results...)
	permanent := make(map[uint64]bool)
	for _, e := range entries {
		permanent[e.Seq] = e.Kind == natsbus.DLQKindPermanent
	}
	if err := printResults(stdout, results, permanent, f.json); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	return summarizeRedrive(stdout, results, execute, f.json)
}

// redriveChecker checks that redrive was given a selection and the
// ingest's webhook secrets, and returns the checker that re-verifies each
// dead letter's signature with them.
func (f *dlqFlags) redriveChecker(all bool) (*dlq.Checker, error) {
	var errs []error
	if !f.selected && !all {
		// Never "redrive everything" by accident.
		errs = append(errs, errors.New("redrive needs a selection: -seq N,..., a filter (-type, -customer, -since, -until, -reason, -kind), or -all"))
	}
	errs = append(errs, f.filter.Validate(), f.requireURL())
	var checker *dlq.Checker
	if strings.TrimSpace(f.secrets) == "" {
		errs = append(errs, errors.New("DODO_WEBHOOK_SECRET is required: the ingest's webhook secrets, to re-verify each signature"))
	} else if secrets, err := webhook.ParseSecrets(f.secrets); err != nil {
		errs = append(errs, fmt.Errorf("DODO_WEBHOOK_SECRET: %w", err))
	} else if checker, err = dlq.NewChecker(secrets); err != nil {
		errs = append(errs, fmt.Errorf("DODO_WEBHOOK_SECRET: %w", err))
	}
	return checker, errors.Join(errs...)
}

// missingSeqs returns a skipped result for each -seq that selected
// nothing, saying why (excluded by the filters, or not a dead letter),
// instead of letting it vanish.
func missingSeqs(ctx context.Context, conn *natsbus.Conn, seqs []uint64, entries []dlq.Entry) []dlq.Result {
	var missing []dlq.Result
	found := make(map[uint64]bool, len(entries))
	for _, e := range entries {
		found[e.Seq] = true
	}
	for _, seq := range seqs {
		if found[seq] {
			continue
		}
		found[seq] = true
		r := dlq.Result{Seq: seq, Action: dlq.ActionSkipped, Error: "excluded by the filters"}
		if _, _, err := dlq.Show(ctx, conn, seq); err != nil {
			r.Error = err.Error()
		}
		missing = append(missing, r)
	}
	return missing
}

// summarizeRedrive prints the totals (unless asJSON) and returns an error
// when any dead letter was, or would be, skipped or failed.
func summarizeRedrive(stdout io.Writer, results []dlq.Result, execute, asJSON bool) error {
	var done, would, skipped, failed int
	for _, r := range results {
		switch {
		case r.Action == dlq.ActionRedriven && r.Error == "":
			done++
		case r.Action == dlq.ActionRedriven:
			done++
			failed++
		case r.Action == dlq.ActionWouldRedrive:
			would++
		default:
			skipped++
		}
	}
	if !asJSON {
		switch {
		case len(results) == 0:
			fmt.Fprintln(stdout, "no dead letters match")
		case execute:
			fmt.Fprintf(stdout, "redriven %d of %d dead letters, skipped %d\n", done, len(results), skipped)
		default:
			fmt.Fprintf(stdout, "dry run: %d of %d dead letters would be redriven, %d skipped; nothing changed. Run again with -execute to redrive.\n", would, len(results), skipped)
		}
	}
	switch {
	case skipped+failed > 0 && execute:
		return fmt.Errorf("%d of %d dead letters not redriven cleanly (see above)", skipped+failed, len(results))
	case skipped > 0:
		return fmt.Errorf("%d of %d dead letters would be skipped (see above)", skipped, len(results))
	}
	return nil
}

// printResults prints one line per result; permanent marks the dead
// letters whose handler said retrying cannot help, worth a warning.
func printResults(w io.Writer, results []dlq.Result, permanent map[uint64]bool, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(results) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tWEBHOOK ID\tTO\tVERIFIED\tACTION\tNOTE")
	for _, r := range results {
		note := r.Error
		switch {
		case note == "" && r.Duplicate:
			note = "already republished by an earlier redrive; dead letter removed"
		case note == "" && r.Verified == dlq.UnsignedReconciled:
			note = "reconciled from Dodo's API: no signature to verify"
		case note == "" && permanent[r.Seq]:
			note = "was a permanent failure: it fails again unless the worker changed"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, cell(r.WebhookID, 40), cell(r.Subject, 48), r.Verified, r.Action, printable(note))
	}
	return tw.Flush()
}

// selecting wraps a filter flag so that giving it counts as a selection.
type selecting struct {
	flag.Value
	selected *bool
}

// String is safe on the zero selecting, which flag.PrintDefaults makes.
func (s selecting) String() string {
	if s.Value == nil {
		return ""
	}
	return s.Value.String()
}

// Set refuses an empty value: -customer "" would otherwise count as a
// selection while filtering nothing, and redrive everything.
func (s selecting) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value: give one, or leave the flag out")
	}
	*s.selected = true
	return s.Value.Set(v)
}

type stringFlag struct{ p *string }

func (f stringFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}
func (f stringFlag) Set(v string) error { *f.p = v; return nil }

type kindFlag struct{ p *string }

func (f kindFlag) String() string { return stringFlag(f).String() }
func (f kindFlag) Set(v string) error {
	if err := (dlq.Filter{Kind: v}).Validate(); err != nil {
		return err
	}
	*f.p = v
	return nil
}

// typesFlag collects event types from comma-separated lists and repeated
// flags.
type typesFlag struct{ p *[]string }

func (f typesFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}
func (f typesFlag) Set(v string) error {
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if err := (dlq.Filter{Types: []string{t}}).Validate(); err != nil {
			return err
		}
		*f.p = append(*f.p, t)
	}
	return nil
}

type whenFlag struct {
	p   *time.Time
	now time.Time
}

func (f whenFlag) String() string {
	if f.p == nil || f.p.IsZero() {
		return ""
	}
	return f.p.Format(time.RFC3339)
}
func (f whenFlag) Set(v string) error {
	t, err := parseWhen(v, f.now)
	if err != nil {
		return err
	}
	*f.p = t
	return nil
}

type seqsFlag struct{ p *[]uint64 }

func (f seqsFlag) String() string {
	if f.p == nil {
		return ""
	}
	s := make([]string, len(*f.p))
	for i, n := range *f.p {
		s[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(s, ",")
}
func (f seqsFlag) Set(v string) error {
	seqs, err := parseSeqs(v)
	if err != nil {
		return err
	}
	if len(*f.p)+len(seqs) > maxSeqs {
		return fmt.Errorf("more than %d sequences; use filters for larger selections", maxSeqs)
	}
	*f.p = append(*f.p, seqs...)
	return nil
}

// maxDaysAgo bounds "Nd" so that the duration cannot overflow.
const maxDaysAgo = 100_000

// parseWhen parses a -since or -until value: an RFC 3339 time, a date
// (midnight UTC), or a positive duration meaning that long before now
// (Go's units, plus "d" for whole days: 90m, 24h, 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q: want an RFC 3339 time (2026-09-01T10:00:00Z), a date (2026-09-01) or a duration ago (90m, 24h, 7d)", s)
	if s == "" {
		return time.Time{}, bad
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 64)
		if err != nil || n > maxDaysAgo {
			return time.Time{}, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, bad
		}
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%q: a duration ago must be positive", s)
	}
	return now.Add(-d).UTC(), nil
}

// maxSeqs bounds how many sequences -seq may name, ranges included, so
// that "1-99999999999" cannot exhaust memory.
const maxSeqs = 10_000

// parseSeqs parses a -seq value: comma-separated stream sequences, each a
// positive integer or an inclusive range N-M. Repeats are dropped; the
// order is kept.
func parseSeqs(s string) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	add := func(n uint64) error {
		if seen[n] {
			return nil
		}
		if len(out) == maxSeqs {
			return fmt.Errorf("more than %d sequences; use filters for larger selections", maxSeqs)
		}
		seen[n] = true
		out = append(out, n)
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parseSeq(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		last := first
		if isRange {
			if last, err = parseSeq(hi); err != nil {
				return nil, fmt.Errorf("%q: %w", item, err)
			}
			if last < first {
				return nil, fmt.Errorf("%q: range ends before it starts", item)
			}
			if last-first >= maxSeqs {
				return nil, fmt.Errorf("%q: more than %d sequences; use filters for larger selections", item, maxSeqs)
			}
		}
		for n := first; ; n++ {
			if err := add(n); err != nil {
				return nil, err
			}
			if n == last {
				break
			}
		}
	}
	return out, nil
}

func parseSeq(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, errors.New("want positive sequence numbers, comma-separated, or ranges N-M")
	}
	return n, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cell is s for one table cell: printable, on one line, at most max runes.
func cell(s string, max int) string {
	if s == "" {
		return "-"
	}
	s = printable(strings.Join(strings.Fields(s), " "))
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-3]) + "..."
	}
	return s
}

// printable replaces what a terminal would interpret (escape sequences,
// bidirectional overrides, invalid UTF-8) with \u escapes. Dead letters
// hold text from outside (bodies, reasons quoting them), and showing one
// must not let it rewrite the operator's screen.
func printable(s string) string {
	return escapeNonPrint(s, false)
}

// printableBlock is printable for multi-line text: newlines and tabs stay.
func printableBlock(s string) string {
	return escapeNonPrint(s, true)
}

func escapeNonPrint(s string, keepLines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && !(keepLines && (r == '\n' || r == '\t')) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r) && r != utf8.RuneError, keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
