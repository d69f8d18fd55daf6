package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/reconcile"
	"github.com/offerflow/offerflow/internal/service"
)

const reconcileUsage = `usage: offerflow reconcile -since T [-until T] [-customer C] [-dry-run] [-json]

Lists the payments and subscriptions of a period from Dodo's API, finds those
whose webhooks offerflow never processed (Dodo stops retrying after about 27h),
and publishes them to DODO_EVENTS for the worker, marked Offerflow-Reconciled.
Running it again is safe: what offerflow already has is not fed twice.

-since and -until take an RFC 3339 time (2026-09-01T10:00:00Z), a date
(2026-09-01, UTC), or a duration ago (90m, 48h, 7d). Settings are flags or
the services' environment variables: NATS_URL, NATS_CREDS, DODO_API_KEY,
DODO_ENVIRONMENT, DODO_API_BASE_URL, LOG_LEVEL.

flags:
`

// reconcileConfig is what offerflow reconcile reads from its flags and
// environment.
type reconcileConfig struct {
	natsURL, natsCreds           string
	apiKey, environment, baseURL string
	// until is zero for "now".
	since, until       time.Time
	customer, logLevel string
	dryRun, json       bool
}

// runReconcile is offerflow reconcile -since T: it connects to NATS and
// Dodo as the worker does, runs reconcile.Run, and prints one line per fed
// (or, with -dry-run, would-be-fed) object, the objects that need a
// person, and a summary; with -json, the whole report as JSON. A run that
// could not see everything (reconcile.ErrIncomplete) prints its report and
// fails.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// Relative times (-since 48h) count back from the moment the command
	// starts.
	now := time.Now()
	cfg, err := parseReconcileFlags(args, getenv, stdout, now)
	if err != nil {
		return err
	}
	log, err := service.NewLogger(cfg.logLevel, true)
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	defer func() { _ = log.Sync() }()

	client, err := dodo.New(dodo.Config{APIKey: cfg.apiKey, Environment: cfg.environment, BaseURL: cfg.baseURL})
	if err != nil {
		return err
	}
	conn, err := natsbus.Connect(natsbus.Dial{URL: cfg.natsURL, Creds: cfg.natsCreds, Name: "offerflow-reconcile", Log: log})
	if err != nil {
		return err
	}
	// Every publish waited for its PubAck, so nothing is left to flush.
	defer conn.Close()
	// reconcile does not create the streams: their settings (replicas,
	// retention) are the services' to choose.
	if err := conn.CheckStreams(ctx); err != nil {
		return fmt.Errorf("offerflow's streams are not on the NATS server (start the ingest or the worker once to create them): %w", err)
	}
	store, err := conn.AccessStore(ctx)
	if err != nil {
		return err
	}
	offerStore, err := conn.OfferStore(ctx)
	if err != nil {
		return err
	}
	log.Info("reconcile starting", zap.String("dodo", client.BaseURL()), zap.Time("since", cfg.since), zap.Time("until", cfg.until),
		zap.String("customer", cfg.customer), zap.Bool("dry_run", cfg.dryRun))

	rep, runErr := reconcile.Run(ctx, reconcile.Deps{Dodo: client, Publisher: conn.Publisher(10 * time.Second), Access: store, Offers: offerStore, Log: log},
		reconcile.Options{Since: cfg.since, Until: cfg.until, DryRun: cfg.dryRun, CustomerID: cfg.customer})
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReconcile(stdout, rep)
	}
	return runErr
}

// parseReconcileFlags reads the flags and the environment, and reports
// every missing or bad setting at once.
func parseReconcileFlags(args []string, getenv func(string) string, stdout io.Writer, now time.Time) (reconcileConfig, error) {
	var cfg reconcileConfig
	s := conf.New("offerflow reconcile", getenv, stdout)
	// Secret, not String: a URL may carry a password, and usage would
	// print it as the default.
	s.Secret(&cfg.natsURL, "nats-url", "NATS_URL", "NATS server URL(s), comma-separated (required)")
	s.String(&cfg.natsCreds, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	s.Secret(&cfg.apiKey, "dodo-api-key", "DODO_API_KEY", "Dodo API key (required; read access is enough)")
	s.String(&cfg.environment, "dodo-environment", "DODO_ENVIRONMENT", dodo.EnvTestMode, "test_mode or live_mode")
	s.String(&cfg.baseURL, "dodo-api-base-url", "DODO_API_BASE_URL", "", "overrides the host chosen by DODO_ENVIRONMENT")
	s.String(&cfg.logLevel, "log-level", "LOG_LEVEL", "warn", "log level (logs go to stderr; the report to stdout)")
	fs := s.FlagSet()
	var since, until string
	fs.StringVar(&since, "since", "", "start of the period (required): RFC 3339, a date, or a duration ago (48h, 7d)")
	fs.StringVar(&until, "until", "", "end of the period (default now): RFC 3339, a date, or a duration ago")
	fs.StringVar(&cfg.customer, "customer", "", "only this customer `id`")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "report what would be fed; publish nothing")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reconcileUsage)
		fs.PrintDefaults()
	}
	if err := s.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("reconcile: unexpected arguments %q", fs.Args())
	}
	var errs []error
	if strings.TrimSpace(since) == "" {
		errs = append(errs, errors.New("-since is required: an RFC 3339 time, a date, or a duration ago such as 48h"))
	} else if t, err := parseWhen(since, now); err != nil {
		errs = append(errs, fmt.Errorf("-since %w", err))
	} else {
		cfg.since = t
	}
	if until != "" {
		if t, err := parseWhen(until, now); err != nil {
			errs = append(errs, fmt.Errorf("-until %w", err))
		} else {
			cfg.until = t
		}
	}
	if cfg.natsURL == "" {
		errs = append(errs, errors.New("NATS_URL is required"))
	}
	if strings.TrimSpace(cfg.apiKey) == "" {
		errs = append(errs, errors.New("DODO_API_KEY is required"))
	}
	if cfg.environment != dodo.EnvTestMode && cfg.environment != dodo.EnvLiveMode {
		errs = append(errs, fmt.Errorf("DODO_ENVIRONMENT %q: want %s or %s", cfg.environment, dodo.EnvTestMode, dodo.EnvLiveMode))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("reconcile: %w", err)
	}
	return cfg, nil
}

// printReconcile prints a report for a person: a header, a line for each
// object fed, to be fed, failed, or skipped for a reason a person should
// look at, the warnings, and the counts.
func printReconcile(w io.Writer, rep reconcile.Report) {
	mode := ""
	if rep.DryRun {
		mode = " (dry run: nothing published)"
	}
	if rep.CustomerID != "" {
		mode += " for customer " + rep.CustomerID
	}
	fmt.Fprintf(w, "reconcile %s .. %s%s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), mode)
	for _, it := range rep.Items {
		switch {
		case it.Action == reconcile.ActionFed, it.Action == reconcile.ActionWouldFeed, it.Action == reconcile.ActionAlreadyFed:
			fmt.Fprintf(w, "%-12s %-27s %-13s %s  %s  at %s (%s time)  %s  [%s]\n", it.Action, it.EventType, it.Kind, it.ID, it.CustomerID,
				it.EventAt.Format(time.RFC3339Nano), it.Stamp, it.WebhookID, it.Reason)
		case it.Action == reconcile.ActionFailed,
			it.Reason == reconcile.ReasonRefundNotProcessed, it.Reason == reconcile.ReasonConflict:
			fmt.Fprintf(w, "%-12s %-27s %-13s %s  %s  %s: %s\n", it.Action, it.EventType, it.Kind, it.ID, it.CustomerID, it.Reason, it.Detail)
		}
	}
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	c := rep.Counts
	fmt.Fprintf(w, "seen %d: processed %d, fed %d, already fed %d, would feed %d, skipped %d, failed %d\n",
		c.Seen, c.Processed, c.Fed, c.AlreadyFed, c.WouldFeed, c.Skipped, c.Failed)
	if len(c.SkippedBy) > 0 {
		var parts []string
		for _, r := range []string{reconcile.ReasonNotFinal, reconcile.ReasonNoCustomer, reconcile.ReasonRefunded, reconcile.ReasonRefundNotProcessed, reconcile.ReasonConflict} {
			if n := c.SkippedBy[r]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r, n))
			}
		}
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(parts, ", "))
	}
}
