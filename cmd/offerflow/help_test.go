package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// markerEnv holds a marker value in every variable that can carry a
// secret: none of them may appear in any output.
func markerEnv(name string) string {
	return map[string]string{
		"DODO_API_KEY":        "sk_test_MARKER_api_key",
		"OFFERFLOW_OFFER_KEY": "k1:MARKER_offer_key",
		"DODO_WEBHOOK_SECRET": "whsec_TUFSS0VSX3dlYmhvb2tfc2VjcmV0",
		"OFFERFLOW_API_TOKEN": "MARKER_api_token",
		"NATS_URL":            "nats://user:MARKER_nats_password@127.0.0.1:1",
		"SMTP_URL":            "smtp://user:MARKER_smtp_password@127.0.0.1:1",
	}[name]
}

// Every command and subcommand answers -h and --help with its usage and
// success (main exits 0 on flag.ErrHelp), and neither the usage nor a flag
// typo's answer shows a secret from the environment. Before, -h printed
// DODO_API_KEY, OFFERFLOW_OFFER_KEY and NATS_URL's password as defaults.
func TestHelpPrintsNoSecret(t *testing.T) {
	commands := [][]string{
		{}, {"dev"}, {"dodo-standin"}, {"bench", "ingest"}, {"bench", "worker"},
		{"dlq"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "redrive"}, {"reconcile"},
	}
	for _, cmd := range commands {
		for _, flagArg := range []string{"-h", "--help", "-no-such-flag"} {
			name := strings.Join(append(append([]string{"offerflow"}, cmd...), flagArg), " ")
			t.Run(name, func(t *testing.T) {
				var out bytes.Buffer
				args := append(append([]string{"offerflow"}, cmd...), flagArg)
				err := run(context.Background(), args, markerEnv, &out)
				text := out.String()
				if err != nil {
					text += err.Error()
				}
				if strings.Contains(text, "MARKER") || strings.Contains(text, "TUFSS0VS") {
					t.Fatalf("a secret is in the output:\n%s", text)
				}
				if !strings.Contains(strings.ToLower(text), "usage") {
					t.Fatalf("no usage in the output:\n%s", text)
				}
				help := flagArg != "-no-such-flag"
				if help && err != nil && !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("%s: %v, want success or flag.ErrHelp (exit 0)", name, err)
				}
				if !help && (err == nil || errors.Is(err, flag.ErrHelp)) {
					t.Fatalf("%s: %v, want an error (exit 1)", name, err)
				}
			})
		}
	}
}
