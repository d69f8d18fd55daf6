package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/offerflow/offerflow/internal/devstack"
	"github.com/offerflow/offerflow/internal/webhook"
)

const dodoStandinUsage = `usage: offerflow dodo-standin [flags]

Runs the Dodo stand-in of offerflow dev on its own: Dodo's REST API with
test cards, in memory, and its /_standin/ controls (docs/dodo.md). It sends
Dodo's webhooks, signed, to -webhook-url.

environment:
  DODO_API_KEY         the bearer token it accepts (default: one generated
                       for the run and printed)
  DODO_WEBHOOK_SECRET  the whsec_ secret that signs its webhooks; required
                       with -webhook-url (of several, the first signs)

Values taken from the environment are never printed.

flags:
`

// runDodoStandin is offerflow dodo-standin: the stand-in offerflow dev runs,
// alone, for a merchant's own offerflow (or any Dodo client) to talk to. It
// serves until ctx ends.
func runDodoStandin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("offerflow dodo-standin", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, dodoStandinUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8090", "listen address of its API (a free port of the same host is used if taken)")
	webhookURL := fs.String("webhook-url", "", "where to send its signed webhooks, e.g. http://127.0.0.1:8080/webhooks/dodo (default: none are sent)")
	empty := fs.Bool("empty", false, "start with no products and no customers (default: the demo catalog and one customer per test card, as offerflow dev)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := devstack.StandinConfig{Addr: *addr, WebhookURL: *webhookURL, APIKey: getenv("DODO_API_KEY"), Empty: *empty,
		// A restarted stand-in numbers its ids from 1 again: the tag keeps
		// them apart from the ids a receiver remembers from the last run.
		IDTag: hex.EncodeToString(randomTag())}
	if *webhookURL != "" {
		secrets, err := webhook.ParseSecrets(getenv("DODO_WEBHOOK_SECRET"))
		if err != nil {
			return fmt.Errorf("DODO_WEBHOOK_SECRET (required with -webhook-url): %w", err)
		}
		cfg.WebhookSecret = secrets[0]
	}
	si, err := devstack.StartStandin(cfg)
	if err != nil {
		return err
	}
	printStandin(stdout, si, cfg, getenv("DODO_API_KEY") != "")
	select {
	case <-ctx.Done():
		si.Close()
		fmt.Fprintln(stdout, "\nStopped.")
		return nil
	case <-si.Stopped():
		si.Close()
		return fmt.Errorf("the stand-in stopped serving: %v", si.Err())
	}
}

// printStandin says where the stand-in listens and how to use it, naming
// the environment variables that hold its secrets rather than their values.
func printStandin(w io.Writer, si *devstack.Standin, cfg devstack.StandinConfig, keyFromEnv bool) {
	key, keyRef := "from DODO_API_KEY", "$DODO_API_KEY"
	if !keyFromEnv {
		key, keyRef = si.APIKey+"  (generated for this run; set DODO_API_KEY to choose it)", si.APIKey
	}
	hooks := "not sent (no -webhook-url)"
	if cfg.WebhookURL != "" {
		hooks = fmt.Sprintf("to %s, signed with DODO_WEBHOOK_SECRET (fingerprint %s)", cfg.WebhookURL, cfg.WebhookSecret.Fingerprint())
	}
	fmt.Fprintln(w, "offerflow dodo-standin: a stand-in for Dodo's API, in memory, test cards only")
	fmt.Fprintf(w, "  URL       %s\n", si.URL)
	fmt.Fprintf(w, "  API key   %s\n", key)
	fmt.Fprintf(w, "  webhooks  %s\n", hooks)
	fmt.Fprintf(w, "  ids       generated ids end in _%s\n", cfg.IDTag)
	if len(si.Products) > 0 {
		fmt.Fprintln(w, "  products:")
		for _, p := range si.Products {
			price := fmt.Sprintf("%s %d.%02d", p.Currency, p.Price/100, p.Price%100)
			if p.Recurring {
				price += " / " + strings.ToLower(p.Interval)
			}
			fmt.Fprintf(w, "    %-16s %-18s %s\n", p.ID, price, p.Name)
		}
	}
	if len(si.Customers) > 0 {
		fmt.Fprintln(w, "  customers, one per test card:")
		for _, c := range si.Customers {
			fmt.Fprintf(w, "    %-36s %-24s card %-18s %s %s\n", c.ID, c.Name, c.TestCard, c.PaymentMethodID, c.Outcome)
		}
	}
	fmt.Fprintf(w, `
Point offerflow at it with DODO_API_BASE_URL=%s and the same DODO_API_KEY.
Try it:
  curl -H "Authorization: Bearer %s" %s/products
  curl -H "Authorization: Bearer %s" %s/_standin/ledger
Its routes and /_standin/ controls (test cards, paying checkouts, moving
the clock, breaking webhook delivery): docs/dodo.md. Ctrl-C stops it.
`, si.URL, keyRef, si.URL, keyRef, si.URL)
}

// randomTag is three random bytes: enough to tell one run's ids from
// another's.
func randomTag() []byte {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}
