package confirm

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/offerflow/offerflow/internal/fault"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want SMTPConfig
	}{
		{name: "full", in: "smtp://user:pass@mail.example.com:2525?from=shop%40example.com&starttls=mandatory&timeout=3s",
			want: SMTPConfig{Host: "mail.example.com", Port: 2525, Username: "user", Password: "pass", From: "shop@example.com", StartTLS: StartTLSMandatory, Timeout: 3 * time.Second}},
		{name: "defaults", in: "smtp://mail.example.com",
			want: SMTPConfig{Host: "mail.example.com", Port: 587, From: "offerflow@mail.example.com", StartTLS: StartTLSOpportunistic, Timeout: 15 * time.Second}},
		{name: "smtps default port", in: "smtps://u:p@mail.example.com",
			want: SMTPConfig{ImplicitTLS: true, Host: "mail.example.com", Port: 465, Username: "u", Password: "p", From: "offerflow@mail.example.com", Timeout: 15 * time.Second}},
		{name: "upper-case scheme", in: "SMTP://mail.example.com:25?starttls=none",
			want: SMTPConfig{Host: "mail.example.com", Port: 25, From: "offerflow@mail.example.com", StartTLS: StartTLSNone, Timeout: 15 * time.Second}},
		{name: "encoded password", in: "smtp://apikey:p%40ss%3Aw%2Frd%3F@smtp.example.com:587",
			want: SMTPConfig{Host: "smtp.example.com", Port: 587, Username: "apikey", Password: "p@ss:w/rd?", From: "offerflow@smtp.example.com", StartTLS: StartTLSOpportunistic, Timeout: 15 * time.Second}},
		{name: "user without password", in: "smtp://apikey@smtp.example.com",
			want: SMTPConfig{Host: "smtp.example.com", Port: 587, Username: "apikey", From: "offerflow@smtp.example.com", StartTLS: StartTLSOpportunistic, Timeout: 15 * time.Second}},
		{name: "from with a name", in: "smtp://mail.example.com/?from=Shop+%3Cno-reply%40shop.example%3E",
			want: SMTPConfig{Host: "mail.example.com", Port: 587, From: "Shop <no-reply@shop.example>", StartTLS: StartTLSOpportunistic, Timeout: 15 * time.Second}},
		{name: "IPv6 host", in: "smtp://[::1]:2525?from=a%40example.com",
			want: SMTPConfig{Host: "::1", Port: 2525, From: "a@example.com", StartTLS: StartTLSOpportunistic, Timeout: 15 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSMTPURL(tt.in)
			if err != nil {
				t.Fatalf("ParseSMTPURL(%q): %v", tt.in, err)
			}
			if got.GoString() != tt.want.GoString() || got.Password != tt.want.Password {
				t.Fatalf("ParseSMTPURL(%q) =\n %#v (password %q)\nwant\n %#v (password %q)", tt.in, got, string(got.Password), tt.want, string(tt.want.Password))
			}
		})
	}
}

func TestParseSMTPURLErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "empty", in: "", want: "scheme"},
		{name: "http", in: "http://mail.example.com", want: `scheme "http": want smtp:// or smtps://`},
		{name: "no slashes", in: "smtp:mail.example.com", want: "with two slashes"},
		{name: "no host", in: "smtp://user:pass@:25", want: "missing host"},
		{name: "no host at all", in: "smtp://", want: "missing host"},
		{name: "port not a number", in: "smtp://mail.example.com:abc", want: "invalid port"},
		{name: "port zero", in: "smtp://mail.example.com:0", want: `port "0": want 1-65535`},
		{name: "port too big", in: "smtp://mail.example.com:70000", want: `port "70000": want 1-65535`},
		{name: "empty port", in: "smtp://mail.example.com:", want: "empty port"},
		{name: "path", in: "smtp://mail.example.com/inbox", want: "unexpected path"},
		{name: "fragment", in: "smtp://mail.example.com#x", want: "unexpected #fragment"},
		{name: "bad from", in: "smtp://mail.example.com?from=nobody", want: `from="nobody" is not an email address`},
		{name: "IPv6 default from", in: "smtp://[::1]:25", want: "is not an email address"},
		{name: "bad starttls", in: "smtp://mail.example.com?starttls=always", want: `starttls="always": want mandatory, opportunistic or none`},
		{name: "starttls with smtps", in: "smtps://mail.example.com?starttls=none", want: "starttls= is for smtp://"},
		{name: "bad timeout", in: "smtp://mail.example.com?timeout=soon", want: `timeout="soon": want a positive duration`},
		{name: "negative timeout", in: "smtp://mail.example.com?timeout=-1s", want: "want a positive duration"},
		{name: "unknown parameter", in: "smtp://mail.example.com?tls=on", want: `unknown parameter "tls" (known: from, starttls, timeout)`},
		{name: "repeated parameter", in: "smtp://mail.example.com?timeout=1s&timeout=2s", want: `parameter "timeout" given 2 times`},
		{name: "password without user", in: "smtp://:pass@mail.example.com", want: "a password without a user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSMTPURL(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSMTPURL(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// TestParseSMTPURLHidesPassword checks that neither the parsed config,
// however it is printed, nor any error repeats the password, including
// URLs where the password is not encoded and spills into other parts.
func TestParseSMTPURLHidesPassword(t *testing.T) {
	const secret = "hunter2secret"
	ok := []string{
		"smtp://user:" + secret + "@mail.example.com:587",
		"smtps://user:" + secret + "@mail.example.com",
	}
	for _, in := range ok {
		cfg, err := ParseSMTPURL(in)
		if err != nil {
			t.Fatalf("ParseSMTPURL(%q): %v", in, err)
		}
		if string(cfg.Password) != secret {
			t.Fatalf("password = %q, want %q", string(cfg.Password), secret)
		}
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{cfg.String(), cfg.GoString(), fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
			fmt.Sprintf("%v %+v %#v", cfg.Password, cfg.Password, cfg.Password), string(js)} {
			if strings.Contains(s, "hunter2") {
				t.Errorf("printed config shows the password: %s", s)
			}
		}
		if !strings.Contains(cfg.String(), "user:xxxxx@") {
			t.Errorf("String() = %q, want the password masked as xxxxx", cfg.String())
		}
	}
	bad := []string{
		"smtp://user:" + secret + "@mail.example.com:99999",
		"smtp://user:" + secret + "@mail.example.com:abc",
		"smtp://user:" + secret + "@mail.example.com?bogus=1",
		"smtp://user:" + secret + "%zz@mail.example.com",
		"smtp://user:" + secret + " x@mail.example.com",
		"smtp://user:" + secret + "@mail exa mple.com",
		// Unencoded reserved characters: the password spills into the
		// host, port, path, query or fragment.
		"smtp://user:" + secret + "?x@mail.example.com",
		"smtp://user:12?" + secret + "@mail.example.com",
		"smtp://user:12?from=" + secret + "%zz@mail.example.com",
		"smtp://user:12#" + secret + "@mail.example.com",
		"smtp://user:12/" + secret + "@mail.example.com",
		"smtp://user:" + secret + "/x@mail.example.com",
		"smtp://user:" + secret + "#x@mail.example.com",
		"smtp://user:" + secret,
		"smtp://user:12?timeout=" + secret + "@x",
		"smtp://user:12?starttls=" + secret + "@x",
		"smtp://user:12?a=1&a=" + secret + "@x",
		"smtp:user:" + secret + "@mail.example.com%zz",
	}
	for _, in := range bad {
		_, err := ParseSMTPURL(in)
		if err == nil {
			t.Errorf("ParseSMTPURL(%q) = nil error, want one", in)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseSMTPURL(%q) error shows the password: %v", in, err)
		}
	}
}

// essential is what must survive a round trip through SMTP_URL.
func essential(c SMTPConfig) string {
	return fmt.Sprintf("%v|%s|%s|%d|%q|%q|%q|%s", c.ImplicitTLS, c.StartTLS, c.Host, c.Port, c.Username, string(c.Password), c.From, c.Timeout)
}

func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{
		"smtp://user:pass@mail.example.com:2525?from=shop%40example.com&starttls=mandatory&timeout=3s",
		"smtps://u:p@mail.example.com",
		"smtp://mail.example.com",
		"smtp://apikey:p%40ss%3Aw%2Frd%3F@smtp.example.com:587",
		"smtp://[::1]:2525?from=a%40example.com",
		"smtp://mail.example.com/?from=Shop+%3Cno-reply%40shop.example%3E",
		"smtp://user:12?x@host",
		"smtp://user:%zz@host",
		"smtp://:@:",
		"smtp://a@b@c:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseSMTPURL(s)
		if err != nil {
			return
		}
		// A parsed config is usable.
		if _, err := NewSMTPMailer(cfg); err != nil {
			t.Fatalf("ParseSMTPURL(%q) gave a config NewSMTPMailer refuses: %v", s, err)
		}
		// It round-trips through its URL form.
		again, err := ParseSMTPURL(cfg.url(true).String())
		if err != nil {
			t.Fatalf("ParseSMTPURL(%q) -> %s: does not parse again: %v", s, cfg.url(true), err)
		}
		if essential(again) != essential(cfg) {
			t.Fatalf("round trip of %q:\n got %s\nwant %s", s, essential(again), essential(cfg))
		}
		// What it prints does not depend on the password.
		other := cfg
		if cfg.Password != "" {
			other.Password = "a-different-password"
		}
		if cfg.String() != other.String() || cfg.GoString() != other.GoString() {
			t.Fatalf("String() depends on the password: %q vs %q", cfg.String(), other.String())
		}
	})
}

// testMessage is a message as Service builds it.
func testMessage(to string) Message {
	return Message{
		To: to, ToName: "Ana Núñez", Subject: "Tu compra: Pro ✓",
		Text: "Hola Ana,\n\nGracias.\n", HTML: "<p>Hola Ana,</p><p>Gracias.</p>",
		MessageID: "confirm.b64_abc", Headers: map[string]string{HeaderConfirmation: "offer.ofr_1.charged"},
	}
}

func TestSMTPMailerSendsOverSTARTTLSWithAuth(t *testing.T) {
	srv := startSMTP(t, smtpOptions{tls: true, user: "shop", pass: "s3cret"})
	m := srv.mailer(t)
	if err := m.Send(context.Background(), testMessage("ana@example.com")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "shop" || got.From != "shop@example.com" || len(got.To) != 1 || got.To[0] != "ana@example.com" {
		t.Fatalf("received %+v, want over TLS, authenticated as shop, from shop@example.com to ana@example.com", got)
	}
	e := parseEmail(t, got.Data)
	if e.Subject != "Tu compra: Pro ✓" {
		t.Errorf("Subject = %q", e.Subject)
	}
	if e.Text != "Hola Ana,\n\nGracias.\n" || e.HTML != "<p>Hola Ana,</p><p>Gracias.</p>" {
		t.Errorf("parts = %q / %q", e.Text, e.HTML)
	}
	if id := e.Header.Get("Message-Id"); id != "<confirm.b64_abc@example.com>" {
		t.Errorf("Message-ID = %q, want <confirm.b64_abc@example.com>", id)
	}
	if h := e.Header.Get(HeaderConfirmation); h != "offer.ofr_1.charged" {
		t.Errorf("%s = %q", HeaderConfirmation, h)
	}
	if to, err := e.Header.AddressList("To"); err != nil || to[0].Name != "Ana Núñez" {
		t.Errorf("To = %v (%v), want the display name", to, err)
	}
}

// TestSMTPMailerNoPasswordInClear: a server that offers only PLAIN on an
// unencrypted connection does not get the password.
func TestSMTPMailerNoPasswordInClear(t *testing.T) {
	srv := startSMTP(t, smtpOptions{user: "shop", pass: "s3cret", insecureAuth: true})
	cfg, err := ParseSMTPURL("smtp://shop:s3cret@" + srv.addr + "?from=shop%40example.com&starttls=opportunistic")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), testMessage("ana@example.com"))
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("Send = %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error shows the password: %v", err)
	}
	if a := srv.auths(); len(a) != 0 || len(srv.messages()) != 0 {
		t.Fatalf("server saw AUTH %q and %d messages, want none", a, len(srv.messages()))
	}
}

func TestSMTPMailerClassifiesErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*smtpServer)
		permanent bool
	}{
		{name: "550 mailbox unavailable", permanent: true, setup: func(s *smtpServer) {
			s.failRcpt(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"})
		}},
		{name: "554 rejected at DATA", permanent: true, setup: func(s *smtpServer) {
			s.failData(&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"})
		}},
		{name: "451 greylisted", setup: func(s *smtpServer) {
			s.failRcpt(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "try again later"})
		}},
		{name: "452 at DATA", setup: func(s *smtpServer) {
			s.failData(&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "queue full"})
		}},
		{name: "connection refused", setup: func(s *smtpServer) { s.stop() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, smtpOptions{})
			m := srv.mailer(t)
			tt.setup(srv)
			err := m.Send(context.Background(), testMessage("ana@example.com"))
			if err == nil {
				t.Fatal("Send = nil, want an error")
			}
			if fault.IsPermanent(err) != tt.permanent {
				t.Fatalf("Send = %v, permanent %v, want %v", err, fault.IsPermanent(err), tt.permanent)
			}
		})
	}
}

// TestSMTPMailerTimeout: a server that accepts the connection and never
// greets is given up on after the timeout, as a transient error.
func TestSMTPMailerTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	cfg, err := ParseSMTPURL("smtp://" + ln.Addr().String() + "?from=a%40example.com&starttls=none&timeout=300ms")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewSMTPMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = m.Send(context.Background(), testMessage("ana@example.com"))
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("Send = %v, want a transient error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send took %s, want about the 300ms timeout", d)
	}

	// The caller's deadline bounds it too.
	cfg.Timeout = time.Minute
	m, _ = NewSMTPMailer(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := m.Send(ctx, testMessage("ana@example.com")); err == nil || fault.IsPermanent(err) {
		t.Fatalf("Send = %v, want a transient error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send took %s with a 300ms context deadline", d)
	}
}

func TestSMTPMailerBadMessageIsPermanent(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	m := srv.mailer(t)
	msg := testMessage("not an address")
	if err := m.Send(context.Background(), msg); !fault.IsPermanent(err) {
		t.Fatalf("Send(bad address) = %v, want a permanent error", err)
	}
	msg = testMessage("ana@example.com")
	msg.Headers = map[string]string{"Bad Header:": "x"}
	if err := m.Send(context.Background(), msg); !fault.IsPermanent(err) {
		t.Fatalf("Send(bad header name) = %v, want a permanent error", err)
	}
	if n := len(srv.messages()); n != 0 {
		t.Fatalf("server received %d messages, want 0", n)
	}
}

func TestFolderMailer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inbox")
	now := time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)
	f := &FolderMailer{Dir: dir, From: "Shop <shop@example.com>", Now: func() time.Time { return now }}
	msg := testMessage("ana@example.com")
	msg.MessageID = "confirm.offer_1/../x"
	if err := f.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	now = now.Add(time.Second)
	if err := f.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"20250601T123000.000000000Z-confirm.offer_1_.._x.eml", "20250601T123001.000000000Z-confirm.offer_1_.._x.eml"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files = %v, want %v (and no temporary files)", names, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	e := parseEmail(t, raw)
	if e.Subject != msg.Subject || e.Text != msg.Text || e.HTML != msg.HTML {
		t.Errorf("file holds %q %q %q", e.Subject, e.Text, e.HTML)
	}
	if got := e.Header.Get("Message-Id"); got != "<confirm.offer_1/../x@example.com>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := e.Header.Get("Date"); got != "Sun, 01 Jun 2025 12:30:00 +0000" {
		t.Errorf("Date = %q", got)
	}
}
