package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver"
	"github.com/offerflow/offerflow/internal/offering"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

//go:embed demo-rules.yaml
var demoRules []byte

type devConfig struct {
	dataDir      string
	natsAddr     string
	httpAddr     string
	dodoAddr     string
	syncAlways   bool
	exitAfter    bool
	logLevel     string
	demoCustomer string
}

// runDev runs everything in one process: an embedded NATS server (on a
// loopback port too, for the nats CLI), the ingest and the worker as the
// real services, then sends a signed demo journey through the real HTTP
// endpoint and prints what happened.
func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg devConfig
	fs := flag.NewFlagSet("offerflow dev", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.dataDir, "data", "", "JetStream store directory (default: a temporary directory removed at exit)")
	fs.StringVar(&cfg.natsAddr, "nats-addr", "127.0.0.1:4222", "loopback address of the embedded NATS server (a free port is used if taken)")
	fs.StringVar(&cfg.httpAddr, "http-addr", "127.0.0.1:8080", "ingest address (a free port is used if taken)")
	fs.StringVar(&cfg.dodoAddr, "dodo-addr", "127.0.0.1:8090", "address of the Dodo stand-in's API (a free port is used if taken)")
	fs.BoolVar(&cfg.syncAlways, "sync-always", true, "fsync every JetStream write before acknowledging it")
	fs.BoolVar(&cfg.exitAfter, "exit-after-demo", false, "stop after the demo instead of serving until Ctrl-C")
	fs.StringVar(&cfg.logLevel, "log-level", "warn", "log level of the services")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Ids are unique per run, so that a second run on the same -data
	// directory is a new journey, not Dodo retrying (or replaying older
	// events of) the first one.
	runID := hex.EncodeToString(randomBytes(3))
	cfg.demoCustomer = "cus_ana_" + runID

	dir := cfg.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "offerflow-dev-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, demoRules, 0o600); err != nil {
		return err
	}

	host, port, err := freeAddr(cfg.natsAddr)
	if err != nil {
		return err
	}
	srv, err := natsserver.Start(natsserver.Config{Name: "offerflow-dev", Host: host, Port: port, StoreDir: filepath.Join(dir, "nats"), SyncAlways: cfg.syncAlways})
	if err != nil {
		return err
	}
	defer natsserver.Stop(srv)
	natsURL := srv.ClientURL()

	httpLn, err := listenFree(cfg.httpAddr)
	if err != nil {
		return err
	}
	baseURL := "http://" + httpLn.Addr().String()

	secret := webhook.NewSecret(randomBytes(32))
	apiToken := "dev_" + hex.EncodeToString(randomBytes(16))
	// The secret goes to a file, not the terminal, so a person can sign
	// their own webhooks without it landing in scroll-back or CI logs.
	secretPath := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretPath, []byte(secret.Encode()+"\n"), 0o600); err != nil {
		return err
	}

	log, err := service.NewLogger(cfg.logLevel, true)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	// The Dodo stand-in starts first: the services call its API (offers),
	// and it sends its webhooks to the ingest's address.
	dodoLn, err := listenFree(cfg.dodoAddr)
	if err != nil {
		return err
	}
	dodo, err := startDevDodo(dodoLn, baseURL+"/webhooks/dodo", secret, runID)
	if err != nil {
		dodoLn.Close()
		return err
	}
	defer dodo.close()
	offerKey := "dev:" + base64.RawURLEncoding.EncodeToString(randomBytes(32))

	var ic service.IngestConfig
	var wc service.WorkerConfig
	if err := declareDefaults(&ic, &wc); err != nil {
		return err
	}
	for _, c := range []*service.Common{&ic.Common, &wc.Common} {
		c.NATSURL = natsURL
		c.RulesPath = rulesPath
		c.Offers.DodoAPIKey, c.Offers.DodoBaseURL, c.Offers.OfferKey = dodo.key, dodo.url, offerKey
	}
	ic.Secrets = secret.Encode()
	ic.APIToken = apiToken
	// A merchant tries an offer page from their own dev server: any
	// origin may call accept and decline here (never in production by
	// default).
	ic.CORSOrigins = "*"
	wc.MetricsAddr = ""
	// Short retry delays so the demo's dead letter shows up at once.
	wc.BackoffBase, wc.BackoffMax = 200*time.Millisecond, time.Second

	// Confirmation emails land in a folder a person can read.
	inboxDir := filepath.Join(dir, "inbox")
	inboxMailer := &confirm.FolderMailer{Dir: inboxDir, From: "Offerflow Demo <shop@offerflow.test>"}

	svcCtx, stopServices := context.WithCancel(context.Background())
	defer stopServices()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	ingestReady := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs <- service.RunIngest(svcCtx, ic, log.Named("ingest"), service.IngestOptions{Listener: httpLn, Ready: func(string) { close(ingestReady) }})
	}()
	go func() {
		defer wg.Done()
		errs <- service.RunWorker(svcCtx, wc, log.Named("worker"), service.WorkerOptions{Mailer: inboxMailer})
	}()
	// Shutdown in reverse order: services first (they drain), then the
	// embedded server (deferred above).
	defer func() {
		stopServices()
		wg.Wait()
	}()

	select {
	case <-ingestReady:
	case err := <-errs:
		return fmt.Errorf("service stopped at start: %w", err)
	case <-ctx.Done():
		return nil
	}

	p := &printer{w: stdout}
	p.header(natsURL, baseURL, apiToken, secretPath, cfg.demoCustomer, cfg.syncAlways)
	p.line("  Dodo      %s  (stand-in; API key %s; sends its webhooks to the ingest)\n", dodo.url, dodo.key)

	// Ana, of the hand-written webhooks, is a Dodo customer too: offers
	// made to her are priced at the stand-in.
	if _, err := dodo.addCustomer(cfg.demoCustomer, "Ana Ruiz", "ana@example.com"); err != nil {
		return err
	}
	demo, err := newDemo(ctx, natsURL, baseURL, secret, apiToken, cfg.demoCustomer, runID, p)
	if err != nil {
		return err
	}
	defer demo.close()
	if err := demo.run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := demo.runDodoJourney(ctx, dodo); err != nil {
		return fmt.Errorf("demo through the Dodo stand-in: %w", err)
	}
	if err := showInbox(p, inboxDir); err != nil {
		return err
	}
	if cfg.exitAfter {
		p.line("\nDemo done; stopping (--exit-after-demo).")
		return nil
	}
	p.line("\nStill running: send your own webhooks or watch the subjects. Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		p.line("\nStopping: draining the worker and the ingest...")
		return nil
	case err := <-errs:
		return fmt.Errorf("a service stopped: %w", err)
	}
}

// declareDefaults fills the service configs with their documented defaults,
// as if started without flags, so dev runs exactly the production settings
// except where it says otherwise.
//
// dev ignores the environment on purpose: it must behave the same on every
// machine, whatever NATS_URL or secrets the shell happens to export.
func declareDefaults(ic *service.IngestConfig, wc *service.WorkerConfig) error {
	empty := func(string) string { return "" }
	si := conf.New("ingest", empty, io.Discard)
	ic.Declare(si)
	sw := conf.New("worker", empty, io.Discard)
	wc.Declare(sw)
	return errors.Join(si.Parse(nil), sw.Parse(nil))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// freeAddr returns addr's host and port if the port is free, else the host
// and 0 (-1 for the NATS server: pick one).
func freeAddr(addr string) (string, int, error) {
	ln, err := listenFree(addr)
	if err != nil {
		return "", 0, err
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return a.IP.String(), a.Port, nil
}

func listenFree(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, fmt.Errorf("address %q: %w", addr, splitErr)
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// printer writes the demo's story.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) header(natsURL, baseURL, token, secretPath, customer string, syncAlways bool) {
	sync := "every write is fsynced before it is acknowledged"
	if !syncAlways {
		sync = "JetStream fsyncs every 2 minutes (-sync-always=false)"
	}
	p.line("offerflow dev")
	p.line("  NATS      %s  (JetStream; %s)", natsURL, sync)
	p.line("  ingest    %s/webhooks/dodo", baseURL)
	p.line("  API token %s  (generated for this run)", token)
	p.line("  secret    %s  (the webhook signing secret of this run, whsec_ form)", secretPath)
	p.line("  watch     nats --server %s sub 'offerflow.>'", natsURL)
	p.line("  access    curl -H 'Authorization: Bearer %s' %s/v1/customers/%s/access", token, baseURL, customer)
}

// demo sends the journey and follows what offerflow publishes.
type demo struct {
	nc   *nats.Conn
	cons jetstream.ConsumeContext
	out  chan *nats.Msg
	// closing ends a consume callback waiting for room in out, so that
	// nats.go's delivery goroutine can end.
	closing  chan struct{}
	baseURL  string
	secret   webhook.Secret
	token    string
	customer string
	runID    string
	p        *printer
	http     *http.Client
	// lastOffers are the offers.created messages seen, by product, with
	// their accept tokens, for the journey to answer.
	lastOffers map[string]offering.Message
}

// money formats minor units with two decimals.
func money(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

func newDemo(ctx context.Context, natsURL, baseURL string, secret webhook.Secret, token, customer, runID string, p *printer) (*demo, error) {
	nc, err := nats.Connect(natsURL, nats.Name("offerflow-dev-demo"))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	// An ordered consumer on OFFERFLOW from now on: what a downstream
	// service would see.
	c, err := js.OrderedConsumer(ctx, natsbus.OutStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"offerflow.>"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	out := make(chan *nats.Msg, 64)
	closing := make(chan struct{})
	cc, err := c.Consume(func(m jetstream.Msg) {
		select {
		case out <- &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()}:
		case <-closing:
		}
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &demo{nc: nc, cons: cc, out: out, closing: closing, baseURL: baseURL, secret: secret, token: token, customer: customer, runID: runID, p: p,
		http: &http.Client{Timeout: 10 * time.Second}, lastOffers: map[string]offering.Message{}}, nil
}

func (d *demo) close() {
	close(d.closing)
	d.cons.Stop()
	<-d.cons.Closed()
	d.nc.Close()
}

// step is one webhook of the journey and how many messages offerflow
// should publish in answer.
type step struct {
	say      string
	typ      string
	id       string
	body     []byte
	badSig   bool
	expect   int
	wantCode int
}

func (d *demo) run(ctx context.Context) error {
	now := time.Now().UTC()
	at := func(sec int) time.Time { return now.Add(time.Duration(sec) * time.Second) }
	c := d.customer
	sfx := "_" + d.runID
	pay, sub := "pay_demo_course"+sfx, "sub_demo"+sfx
	steps := []step{
		{say: "Ana buys the course (one-time payment): access, and the workbook offered", typ: "payment.succeeded", id: "msg_demo_1",
			body: paymentSucceeded(at(0), c, pay, "pdt_course_rust", 4900), expect: 2, wantCode: 200},
		{say: "Ana subscribes to Basic", typ: "subscription.active", id: "msg_demo_2",
			body: subscription("subscription.active", at(10), c, sub, "pdt_basic", "active", 3000), expect: 1, wantCode: 200},
		{say: "Dodo retries the same delivery (same webhook-id)", typ: "subscription.active", id: "msg_demo_2",
			body: subscription("subscription.active", at(10), c, sub, "pdt_basic", "active", 3000), expect: 0, wantCode: 200},
		{say: "Ana upgrades to Pro", typ: "subscription.plan_changed", id: "msg_demo_3",
			body: subscription("subscription.plan_changed", at(20), c, sub, "pdt_pro", "active", 8000), expect: 2, wantCode: 200},
		{say: "A stale on_hold from before the upgrade arrives late (out of order)", typ: "subscription.on_hold", id: "msg_demo_4",
			body: subscription("subscription.on_hold", at(5), c, sub, "pdt_basic", "on_hold", 3000), expect: 0, wantCode: 200},
		{say: "The course is refunded in full", typ: "refund.succeeded", id: "msg_demo_5",
			body: refundSucceeded(at(30), c, pay, 4900), expect: 1, wantCode: 200},
		{say: "Someone posts a forged webhook", typ: "subscription.active", id: "msg_demo_forged",
			body: subscription("subscription.active", at(40), c, "sub_forged"+sfx, "pdt_pro", "active", 0), badSig: true, expect: 0, wantCode: 401},
		{say: "Dodo signs a body that is not JSON (kept, then dead-lettered)", typ: "", id: "msg_demo_6",
			body: []byte("this is not json"), expect: 1, wantCode: 200},
	}
	for i := range steps {
		steps[i].id += sfx
	}
	for i, s := range steps {
		d.p.line("%d. %s", i+1, s.say)
		code, respBody, err := d.send(ctx, s)
		if err != nil {
			return err
		}
		label := s.typ
		if label == "" {
			label = "(not JSON)"
		}
		d.p.line("   -> POST /webhooks/dodo  %-26s webhook-id %-23s <- %d %s", label, s.id, code, strings.TrimSpace(respBody))
		if code != s.wantCode {
			return fmt.Errorf("step %d: got HTTP %d, want %d", i+1, code, s.wantCode)
		}
		if err := d.follow(ctx, s.expect); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return d.showAccess(ctx)
}

func (d *demo) send(ctx context.Context, s step) (int, string, error) {
	ts := time.Now()
	sig := webhook.Sign(d.secret, s.id, ts, s.body)
	if s.badSig {
		sig = webhook.Sign(webhook.NewSecret([]byte("not-the-merchant-secret-0123456")), s.id, ts, s.body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.baseURL+"/webhooks/dodo", bytes.NewReader(s.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", s.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// follow prints what offerflow published in answer to a step: want
// messages, then anything else that arrives within a short grace period.
func (d *demo) follow(ctx context.Context, want int) error {
	deadline := time.After(10 * time.Second)
	for got := 0; got < want; {
		select {
		case m := <-d.out:
			// Confirmations are printed, not counted: they follow the
			// changes they confirm.
			if !d.describe(m) {
				got++
			}
		case <-deadline:
			return fmt.Errorf("expected %d messages from offerflow, saw %d within 10s", want, got)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	grace := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-d.out:
			d.describe(m)
		case <-grace:
			if want == 0 {
				d.p.line("      (nothing changes: offerflow publishes nothing)")
			}
			return nil
		}
	}
}

// describe prints a message; it reports whether it was a confirmation.
func (d *demo) describe(m *nats.Msg) (confirmation bool) {
	if strings.HasPrefix(m.Subject, confirm.SubjectPrefix) {
		var c confirm.Sent
		_ = json.Unmarshal(m.Data, &c)
		d.p.line("      %s  %s by %s to %s: %q", m.Subject, c.Kind, c.Channel, c.Email, c.Subject)
		return true
	}
	if strings.HasPrefix(m.Subject, natsbus.DeadLetterPrefix) {
		d.p.line("      %s  dead letter: %s (%s)", m.Subject, m.Header.Get(natsbus.HeaderDLQReason), m.Header.Get(natsbus.HeaderDLQKind))
		return false
	}
	if strings.HasPrefix(m.Subject, "offerflow.offers.") {
		var o offering.Message
		_ = json.Unmarshal(m.Data, &o)
		how := "one click on " + o.Card.Brand + " " + o.Card.Last4
		if !o.OneClick {
			how = "checkout link (no card to charge off-session)"
		}
		d.p.line("      %s  %s %s %q: %s %s due now (price %s), %s; state %s", m.Subject, o.Kind, o.ProductID, o.Display.Headline,
			o.Amounts.Currency, money(o.Amounts.DueNow), money(o.Amounts.Price), how, o.State)
		if o.AcceptToken != "" {
			d.lastOffers[o.ProductID] = o
		}
		return false
	}
	var c struct {
		ProductID string   `json:"product_id"`
		Features  []string `json:"features"`
		Status    string   `json:"status"`
		EventType string   `json:"event_type"`
	}
	_ = json.Unmarshal(m.Data, &c)
	d.p.line("      %s  product %s status %s features %v (from %s)", m.Subject, c.ProductID, c.Status, c.Features, c.EventType)
	return false
}

func (d *demo) showAccess(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.baseURL+"/v1/customers/"+d.customer+"/access", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(body), "   ", "  "); err != nil {
		return fmt.Errorf("access API answered %d with a body that is not JSON: %w", resp.StatusCode, err)
	}
	d.p.line("\nGET /v1/customers/%s/access <- %d\n   %s", d.customer, resp.StatusCode, pretty.String())
	return nil
}

// showInbox prints the confirmation emails the demo sent: the subject and
// recipient of each .eml file in dir.
func showInbox(p *printer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	p.line("\nConfirmation emails (one per business change), in %s:", dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("inbox %s: %w", e.Name(), err)
		}
		subject, derr := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if derr != nil {
			subject = m.Header.Get("Subject")
		}
		p.line("   to %-32s %s", m.Header.Get("To"), subject)
		f.Close()
	}
	return nil
}
