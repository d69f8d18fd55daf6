package confirm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, keeping what it receives. It can refuse with a chosen
// reply, require authentication, speak STARTTLS with a throwaway
// certificate, and be stopped and started again on the same port to play
// an outage.
type smtpServer struct {
	t    testing.TB
	addr string
	// tls is the server's TLS config; nil: no STARTTLS.
	tls *tls.Config
	// clientTLS trusts the server's certificate.
	clientTLS *tls.Config
	// insecureAuth offers AUTH on a plain connection.
	insecureAuth bool

	mu       sync.Mutex
	msgs     []received
	rcptErr  *smtp.SMTPError
	dataErr  *smtp.SMTPError
	user     string // when set, MAIL needs AUTH PLAIN with user and pass
	pass     string
	authSeen []string // every "user:password" an AUTH offered

	srv    *smtp.Server
	ln     net.Listener
	served chan error
	conns  map[*smtp.Conn]struct{}
}

// received is one accepted message.
type received struct {
	From string
	To   []string
	Data []byte
	User string // who authenticated; "" for nobody
	TLS  bool   // whether the message came over TLS
}

type smtpOptions struct {
	tls          bool
	user, pass   string
	insecureAuth bool
}

// startSMTP starts a server and stops it when the test ends.
func startSMTP(t testing.TB, o smtpOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{t: t, user: o.user, pass: o.pass, insecureAuth: o.insecureAuth, conns: make(map[*smtp.Conn]struct{})}
	if o.tls {
		s.tls, s.clientTLS = testCertificate(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *smtpServer) serve(ln net.Listener) {
	srv := smtp.NewServer(smtpBackend{s})
	srv.Domain = "localhost"
	srv.TLSConfig = s.tls
	srv.AllowInsecureAuth = s.insecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.mu.Lock()
	s.srv, s.ln, s.served = srv, ln, served
	s.mu.Unlock()
}

// stop shuts the server down and waits for its goroutines. Stopping a
// stopped server does nothing.
func (s *smtpServer) stop() {
	s.mu.Lock()
	srv, ln, served, conns := s.srv, s.ln, s.served, s.conns
	s.srv, s.ln, s.served, s.conns = nil, nil, nil, make(map[*smtp.Conn]struct{})
	s.mu.Unlock()
	if srv == nil {
		return
	}
	// An outage drops the connections in progress. It also ends those a
	// client abandoned without QUIT (go-mail does after a failed
	// STARTTLS or AUTH), which Shutdown would otherwise wait out.
	for c := range conns {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		s.t.Errorf("smtp shutdown: %v", err)
	}
	// Shutdown closes the listeners Serve has registered; Serve may not
	// have started yet, so close ours too: Serve then returns at once.
	ln.Close()
	if err := <-served; err != nil {
		s.t.Errorf("smtp serve: %v", err)
	}
}

// restart listens again on the same port, after stop.
func (s *smtpServer) restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	// The port was just ours; another process taking it in between is
	// possible but not worth more than a few tries.
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("smtp listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// smtpError is a reply with the enhanced code its class implies.
func smtpError(code int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
}

// failRcpt makes RCPT TO answer err (nil: accept again).
func (s *smtpServer) failRcpt(err *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr = err
}

// failData makes the end of DATA answer err (nil: accept again).
func (s *smtpServer) failData(err *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErr = err
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authSeen...)
}

// url is an SMTP_URL for this server. STARTTLS is mandatory when the
// server has TLS, and off otherwise.
func (s *smtpServer) url(query string) string {
	u := "smtp://"
	if s.user != "" {
		u += s.user + ":" + s.pass + "@"
	}
	u += s.addr + "?from=shop%40example.com"
	if s.tls != nil {
		u += "&starttls=mandatory"
	} else {
		u += "&starttls=none"
	}
	if query != "" {
		u += "&" + query
	}
	return u
}

// mailer returns an SMTPMailer for this server.
func (s *smtpServer) mailer(t testing.TB) *SMTPMailer {
	t.Helper()
	cfg, err := ParseSMTPURL(s.url("timeout=5s"))
	if err != nil {
		t.Fatalf("ParseSMTPURL: %v", err)
	}
	cfg.TLS = s.clientTLS
	m, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatalf("NewSMTPMailer: %v", err)
	}
	return m
}

type smtpBackend struct{ s *smtpServer }

func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.s.conns[c] = struct{}{}
	return &smtpSession{s: b.s, conn: c}, nil
}

type smtpSession struct {
	s    *smtpServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (x *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		x.s.authSeen = append(x.s.authSeen, user+":"+pass)
		if x.s.user == "" || user != x.s.user || pass != x.s.pass {
			return smtp.ErrAuthFailed
		}
		x.user = user
		return nil
	}), nil
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.rcptErr != nil {
		return x.s.rcptErr
	}
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.dataErr != nil {
		return x.s.dataErr
	}
	x.s.msgs = append(x.s.msgs, received{From: x.from, To: x.to, Data: data, User: x.user, TLS: isTLS})
	return nil
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }

// testCertificate makes a self-signed certificate for 127.0.0.1 and
// returns the server's TLS config and a client config that trusts it.
func testCertificate(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "offerflow test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}

// email is a received message taken apart.
type email struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

// parseEmail parses raw as multipart/alternative with a text and an HTML
// part, decoding headers and quoted-printable or base64 bodies.
func parseEmail(t testing.TB, raw []byte) email {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	out := email{Header: m.Header, Subject: subject}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		var body io.Reader = p
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			body = quotedprintable.NewReader(p)
		case "base64":
			t.Fatalf("unexpected base64 part")
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("part body: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct {
		case "text/plain":
			out.Text = text
		case "text/html":
			out.HTML = text
		default:
			t.Fatalf("unexpected part %q", ct)
		}
	}
	if out.Text == "" || out.HTML == "" {
		t.Fatalf("want a text and an HTML part, got text %q html %q", out.Text, out.HTML)
	}
	return out
}
