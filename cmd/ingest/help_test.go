package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// ingest -h and --help print the usage and succeed (main exits 0 on
// flag.ErrHelp); neither they nor a flag typo print a secret from the
// environment. Before, -h printed DODO_API_KEY, OFFERFLOW_OFFER_KEY and
// NATS_URL's password as flag defaults.
func TestHelpPrintsNoSecret(t *testing.T) {
	env := map[string]string{
		"DODO_API_KEY":        "sk_test_MARKER_api_key",
		"OFFERFLOW_OFFER_KEY": "k1:MARKER_offer_key",
		"DODO_WEBHOOK_SECRET": "whsec_TUFSS0VSX3dlYmhvb2tfc2VjcmV0",
		"OFFERFLOW_API_TOKEN": "MARKER_api_token",
		"NATS_URL":            "nats://user:MARKER_nats_password@127.0.0.1:1",
		"SMTP_URL":            "smtp://user:MARKER_smtp_password@127.0.0.1:1",
	}
	for _, arg := range []string{"-h", "--help", "-no-such-flag"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"ingest", arg}, func(k string) string { return env[k] }, &out)
			text := out.String()
			if err != nil {
				text += err.Error()
			}
			if strings.Contains(text, "MARKER") || strings.Contains(text, "TUFSS0VS") {
				t.Fatalf("a secret is in the output:\n%s", text)
			}
			if !strings.Contains(text, "Usage of ingest") {
				t.Fatalf("no usage in the output:\n%s", text)
			}
			if help := arg != "-no-such-flag"; help != errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run(%s) = %v; want flag.ErrHelp (exit 0) exactly for -h and --help", arg, err)
			}
		})
	}
}
