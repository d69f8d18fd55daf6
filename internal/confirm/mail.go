package confirm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/offerflow/offerflow/internal/fault"
)

// Message is one email to one recipient, multipart/alternative with a
// plain-text and an HTML part.
type Message struct {
	To     string // address only: "ana@example.com"
	ToName string // display name; may be empty
	// Subject is one line.
	Subject string
	Text    string
	HTML    string
	// MessageID is the part of the Message-ID header before the "@"; each
	// mailer adds its sender's domain. It is the same on every attempt to
	// send one confirmation, so a receiver that has the message already
	// can tell the repeat. Empty: the library makes a random one.
	MessageID string
	// Headers are extra header fields, for example
	// X-Offerflow-Confirmation. Values are encoded as needed, so a line
	// break in a value cannot add a header.
	Headers map[string]string
}

// Mailer sends email. Send returns nil once the server accepted m, an error
// marked fault.Permanent when sending m can never succeed (the server
// refused it with a 5xx reply, a bad address), and any other error when a
// later attempt may.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// StartTLS is the STARTTLS policy of an smtp:// connection.
type StartTLS string

// STARTTLS policies.
const (
	// StartTLSOpportunistic upgrades when the server offers STARTTLS and
	// goes on in plain text when it does not. If the server offers it but
	// the handshake fails (a bad certificate), the send fails: an offered
	// upgrade is never silently skipped. Credentials are not sent in plain
	// text with PLAIN or LOGIN either way (see SMTPConfig).
	StartTLSOpportunistic StartTLS = "opportunistic"
	// StartTLSMandatory refuses a server that does not offer STARTTLS.
	StartTLSMandatory StartTLS = "mandatory"
	// StartTLSNone never upgrades: for a local relay or a test server.
	StartTLSNone StartTLS = "none"
)

// Defaults of an SMTP_URL.
const (
	DefaultSMTPPort    = 587 // smtp://: mail submission, STARTTLS
	DefaultSMTPSPort   = 465 // smtps://: implicit TLS
	DefaultSMTPTimeout = 15 * time.Second
)

// Secret is a string that never prints: String, GoString and the text and
// JSON encodings show "xxxxx" (or nothing when it is empty), so a config
// logged by mistake does not leak it. string(s) is the value.
type Secret string

const secretMask = "xxxxx"

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return secretMask
}

// String returns the mask.
func (s Secret) String() string { return s.mask() }

// GoString returns the mask, quoted.
func (s Secret) GoString() string { return strconv.Quote(s.mask()) }

// MarshalText returns the mask.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// SMTPConfig is how to reach the SMTP server, as SMTP_URL says.
//
// Credentials: when Username is set, the mailer authenticates with the
// strongest mechanism the server offers (SCRAM, CRAM-MD5, then PLAIN or
// LOGIN). PLAIN and LOGIN, which send the password itself, are only used
// on an encrypted connection; a server that offers nothing else over
// plain text is an error, not a leak.
type SMTPConfig struct {
	// ImplicitTLS is set by smtps://: TLS from the first byte.
	ImplicitTLS bool
	// StartTLS is the STARTTLS policy of smtp://; empty for smtps://.
	StartTLS StartTLS
	Host     string
	Port     int
	Username string
	Password Secret
	// From is the sender, "addr@domain" or "Name <addr@domain>".
	From string
	// Timeout bounds connecting and each exchange with the server; the
	// caller's context deadline, when earlier, bounds it too.
	Timeout time.Duration
	// TLS, when set, is used for TLS and STARTTLS (a private CA, a test
	// server). Not settable from SMTP_URL. Nil: the system's roots,
	// server name Host. Not encoded as JSON (it holds funcs JSON cannot
	// encode), so a config can be logged as JSON.
	TLS *tls.Config `json:"-"`
}

// ParseSMTPURL parses SMTP_URL:
//
//	smtp://user:pass@host:port?from=...&starttls=...&timeout=...
//	smtps://user:pass@host:port?from=...&timeout=...
//
// smtp:// speaks STARTTLS when the server offers it (starttls=opportunistic,
// the default), always (starttls=mandatory) or never (starttls=none);
// default port 587. smtps:// is TLS from the start; default port 465.
// user and pass are optional and percent-encoded like any URL userinfo.
// from= is the sender address, default offerflow@<host> (set it: the SMTP
// server's host is rarely the domain your mail should come from). timeout=
// is a Go duration, default 15s. Any other parameter is an error, so that
// a typo does not pass silently.
//
// Errors never contain the password. A password with unencoded reserved
// characters (? # /) spills into other parts of the URL; when that may
// have happened (no user was parsed, yet there is an "@"), errors do not
// quote the input at all.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	u, err := url.Parse(s)
	if err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: %w", redactedParseError(s))
	}
	safe := u.User != nil || !strings.Contains(s, "@")
	show := func(v string) string {
		if safe {
			return strconv.Quote(v)
		}
		return "(not shown: percent-encode reserved characters in the password)"
	}
	var cfg SMTPConfig
	switch u.Scheme {
	case "smtp":
		cfg.Port, cfg.StartTLS = DefaultSMTPPort, StartTLSOpportunistic
	case "smtps":
		cfg.Port, cfg.ImplicitTLS = DefaultSMTPSPort, true
	default:
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if u.Opaque != "" {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: want %s://host, with two slashes", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: unexpected path %s after the host", show(u.Path))
	}
	if u.Fragment != "" {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: unexpected #fragment %s", show(u.Fragment))
	}
	if err := cfg.setAddress(u, show); err != nil {
		return SMTPConfig{}, err
	}
	if err := cfg.setOptions(u.RawQuery, safe, show); err != nil {
		return SMTPConfig{}, err
	}
	if _, err := netmail.ParseAddress(cfg.From); err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: from=%s is not an email address: %w", show(cfg.From), err)
	}
	if err := cfg.validate(); err != nil {
		return SMTPConfig{}, fmt.Errorf("SMTP_URL: %w", err)
	}
	return cfg, nil
}

// setAddress sets the host, port and credentials from SMTP_URL's u;
// show quotes a part of the URL for an error, or hides it when the
// password may have spilled into it.
func (cfg *SMTPConfig) setAddress(u *url.URL, show func(string) string) error {
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return errors.New("SMTP_URL: missing host")
	}
	if !validHost(cfg.Host) || (strings.Contains(cfg.Host, ":") && !strings.HasPrefix(u.Host, "[")) {
		// An IPv6 address needs its brackets: "smtp://::1" is host ":",
		// port 1 to url.Parse.
		return fmt.Errorf("SMTP_URL: host %s: want a host name or an IP address (IPv6 in brackets)", show(cfg.Host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("SMTP_URL: port %s: want 1-65535", show(p))
		}
		cfg.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("SMTP_URL: empty port after ':'")
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		pass, _ := u.User.Password()
		cfg.Password = Secret(pass)
		if cfg.Username == "" && pass != "" {
			return errors.New("SMTP_URL: a password without a user")
		}
	}
	return nil
}

// setOptions sets From, StartTLS and Timeout from SMTP_URL's query
// (defaults for those not given), refusing unknown or repeated parameters.
func (cfg *SMTPConfig) setOptions(rawQuery string, safe bool, show func(string) string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		if !safe {
			return fmt.Errorf("SMTP_URL: bad query %s", show(""))
		}
		return fmt.Errorf("SMTP_URL: query: %w", err)
	}
	cfg.From = "offerflow@" + cfg.Host
	cfg.Timeout = DefaultSMTPTimeout
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if len(vs) != 1 {
			return fmt.Errorf("SMTP_URL: parameter %s given %d times", show(k), len(vs))
		}
		v := vs[0]
		switch k {
		case "from":
			cfg.From = v
		case "starttls":
			if cfg.ImplicitTLS {
				return errors.New("SMTP_URL: starttls= is for smtp://; smtps:// is TLS from the start")
			}
			switch p := StartTLS(v); p {
			case StartTLSOpportunistic, StartTLSMandatory, StartTLSNone:
				cfg.StartTLS = p
			default:
				return fmt.Errorf("SMTP_URL: starttls=%s: want mandatory, opportunistic or none", show(v))
			}
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("SMTP_URL: timeout=%s: want a positive duration such as 15s", show(v))
			}
			cfg.Timeout = d
		default:
			return fmt.Errorf("SMTP_URL: unknown parameter %s (known: from, starttls, timeout)", show(k))
		}
	}
	return nil
}

// redactedParseError explains why url.Parse refused s without repeating
// any of s: url.Error quotes the whole URL, password included, and its
// reasons quote the offending part (a "port" that may be a password
// missing its "@host"). The reason is given with quoted parts removed.
// When masking the user and password makes s parse, the problem was in
// them, and the error says so.
func redactedParseError(s string) error {
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if _, err := url.Parse(scheme + "://user:" + secretMask + rest[at:]); err == nil {
				return errors.New("not a valid URL: bad user or password (percent-encode reserved characters such as @ : / ? # % in them)")
			}
		}
	}
	_, err := url.Parse(s)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("not a valid URL: %s", unquoted(err.Error()))
}

// unquoted removes the double-quoted parts of an error text.
func unquoted(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			break
		}
		s = s[i+1+j+1:]
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// validate checks a config, whether parsed or built by hand.
func (c SMTPConfig) validate() error {
	var errs []error
	switch {
	case c.Host == "":
		errs = append(errs, errors.New("missing host"))
	case !validHost(c.Host):
		errs = append(errs, fmt.Errorf("host %q: want a host name or an IP address", c.Host))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: want 1-65535", c.Port))
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from %q is not an email address: %w", c.From, err))
	}
	if !c.ImplicitTLS {
		switch c.StartTLS {
		case StartTLSOpportunistic, StartTLSMandatory, StartTLSNone:
		default:
			errs = append(errs, fmt.Errorf("starttls %q: want mandatory, opportunistic or none", c.StartTLS))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: want > 0", c.Timeout))
	}
	return errors.Join(errs...)
}

// validHost reports whether h is an IP address or a host name made of
// letters, digits, "-", "_" and ".".
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return len(h) <= 253 && !strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// url is c as an SMTP_URL, with the password or, masked, without.
func (c SMTPConfig) url(withPassword bool) *url.URL {
	u := &url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.ImplicitTLS {
		u.Scheme = "smtps"
	}
	switch {
	case c.Username != "" && c.Password != "" && withPassword:
		u.User = url.UserPassword(c.Username, string(c.Password))
	case c.Username != "" && c.Password != "":
		u.User = url.UserPassword(c.Username, secretMask)
	case c.Username != "":
		u.User = url.User(c.Username)
	}
	q := url.Values{}
	q.Set("from", c.From)
	if !c.ImplicitTLS {
		q.Set("starttls", string(c.StartTLS))
	}
	q.Set("timeout", c.Timeout.String())
	u.RawQuery = q.Encode()
	return u
}

// String returns c as an SMTP_URL with the password masked, for logs.
func (c SMTPConfig) String() string { return c.url(false).String() }

// GoString is String, so that %#v does not print the password either.
func (c SMTPConfig) GoString() string { return "confirm.SMTPConfig(" + c.String() + ")" }

// SMTPMailer sends each message on a connection of its own, using
// github.com/wneessen/go-mail.
//
// One connection per message is slower than a pool, and plenty for
// confirmations: it leaves no connection to go stale between messages, no
// shared state between concurrent sends, and nothing to close on shutdown.
//
// go-mail v0.8.1 does not close the connection when EHLO, STARTTLS or
// AUTH fails; the runtime closes it when it is garbage collected. Wrapping
// the dialer to close it would take the TLS handling of smtps:// away from
// go-mail, and with it the check that keeps PLAIN off plain connections.
type SMTPMailer struct {
	cfg    SMTPConfig
	from   *netmail.Address
	domain string
}

// NewSMTPMailer returns a mailer for cfg, or an error when cfg is unusable.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("smtp config: %w", err)
	}
	from, _ := netmail.ParseAddress(cfg.From) // checked by validate
	return &SMTPMailer{cfg: cfg, from: from, domain: domainOf(from.Address)}, nil
}

// Send sends m. The connection is bounded by the config's timeout and by
// ctx's deadline, whichever is earlier.
//
// Once the server has accepted the message, Send returns nil even if
// closing the session then fails: reporting that failure would make the
// caller send the message again.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	msg, err := buildMsg(s.from, s.domain, m)
	if err != nil {
		return fault.Permanent(err)
	}
	timeout := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return fmt.Errorf("smtp %s: %w", s.addr(), context.DeadlineExceeded)
	}
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(timeout)}
	if s.cfg.TLS != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLS))
	}
	if s.cfg.ImplicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(tlsPolicy(s.cfg.StartTLS)))
	}
	if s.cfg.Username != "" {
		// Auto-discovery picks PLAIN or LOGIN only on an encrypted
		// connection (see SMTPConfig).
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(string(s.cfg.Password)))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fault.Permanent(fmt.Errorf("smtp %s: %w", s.addr(), err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		return nil
	}
	return classify(fmt.Errorf("smtp %s: %w", s.addr(), err))
}

func (s *SMTPMailer) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

func tlsPolicy(p StartTLS) gomail.TLSPolicy {
	switch p {
	case StartTLSMandatory:
		return gomail.TLSMandatory
	case StartTLSNone:
		return gomail.NoTLS
	}
	return gomail.TLSOpportunistic
}

// classify marks a send error permanent when the server refused the
// message with a 5xx reply (550 no such mailbox, 554 rejected): sending it
// again gets the same answer, so the caller dead-letters it at once. 4xx
// replies (greylisting, a full queue), timeouts, refused or reset
// connections stay transient and are retried with backoff.
//
// Failures before any message is offered (TLS, AUTH, even a 535 to bad
// credentials) stay transient too: they are about the server or our
// settings, not this message, and every confirmation would fail alike;
// retrying gives an operator time to fix them before the dead letter.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return fault.Permanent(err)
	}
	return err
}

// buildMsg builds the go-mail message for m from the sender from.
func buildMsg(from *netmail.Address, domain string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(from.Name, from.Address); err != nil {
		return nil, fmt.Errorf("from %q: %w", from.Address, err)
	}
	if err := msg.AddToFormat(m.ToName, m.To); err != nil {
		return nil, fmt.Errorf("to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID + "@" + domain)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("header name %q", k)
		}
		msg.SetGenHeader(gomail.Header(k), m.Headers[k])
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// validHeaderName reports whether k is a header field name (RFC 5322:
// printable ASCII but the colon).
func validHeaderName(k string) bool {
	return k != "" && !strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' })
}

// domainOf returns the part of addr after the last "@".
func domainOf(addr string) string {
	return addr[strings.LastIndex(addr, "@")+1:]
}

// FolderMailer writes each message to Dir as <timestamp>-<message id>.eml,
// the full RFC 5322 message as it would go over SMTP. `offerflow dev` uses
// it in place of an SMTP server, so a person can open the inbox with any
// mail client or text editor.
type FolderMailer struct {
	Dir string
	// From is the sender; empty means offerflow@localhost.
	From string
	// Now stamps the file names and the Date header; nil means time.Now.
	Now func() time.Time
}

// Send writes m to a new file in f.Dir, creating the directory if needed.
// The file appears whole or not at all (written aside, then renamed), so a
// reader polling the folder never sees half a message.
func (f *FolderMailer) Send(_ context.Context, m Message) error {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	fromAddr := f.From
	if fromAddr == "" {
		fromAddr = "offerflow@localhost"
	}
	from, err := netmail.ParseAddress(fromAddr)
	if err != nil {
		return fault.Permanent(fmt.Errorf("folder mailer from %q: %w", fromAddr, err))
	}
	msg, err := buildMsg(from, domainOf(from.Address), m)
	if err != nil {
		return fault.Permanent(err)
	}
	t := now().UTC()
	msg.SetDateWithValue(t)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("mail folder: %w", err)
	}
	name := t.Format("20060102T150405.000000000Z") + "-" + safeFileName(m.MessageID) + ".eml"
	tmp, err := os.CreateTemp(f.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail folder: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.Dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// safeFileName keeps [A-Za-z0-9._-] of s, replaces anything else with
// "_", and bounds the length.
func safeFileName(s string) string {
	if s == "" {
		return "message"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}
