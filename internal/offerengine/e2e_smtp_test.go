package offerengine_test

import (
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// inbox is a real SMTP server (github.com/emersion/go-smtp) on a loopback
// port that keeps every message it accepts; stop and start play an outage
// on the same address.
type inbox struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	msgs []*mail.Message
	bods []string
	srv  *smtp.Server
	done chan struct{}
}

func startInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = ln.Addr().String()
	in.serve(ln)
	t.Cleanup(in.stop)
	return in
}

func (in *inbox) serve(ln net.Listener) {
	in.srv = smtp.NewServer(in)
	in.srv.Domain = "inbox.test"
	in.srv.ReadTimeout, in.srv.WriteTimeout = 10*time.Second, 10*time.Second
	in.done = make(chan struct{})
	go func() { defer close(in.done); _ = in.srv.Serve(ln) }()
}

func (in *inbox) stop() {
	if in.srv == nil {
		return
	}
	_ = in.srv.Close()
	<-in.done
	in.srv = nil
}

func (in *inbox) start() {
	in.t.Helper()
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		in.t.Fatal(err)
	}
	in.serve(ln)
}

// NewSession implements smtp.Backend.
func (in *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{in: in}, nil }

type session struct{ in *inbox }

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Reset()                               {}
func (s *session) Logout() error                        { return nil }
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	s.in.msgs = append(s.in.msgs, m)
	s.in.bods = append(s.in.bods, string(raw))
	return nil
}

// sent returns the raw messages whose X-Offerflow-Confirmation header
// starts with prefix.
func (in *inbox) sent(prefix string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for i, m := range in.msgs {
		if strings.HasPrefix(m.Header.Get("X-Offerflow-Confirmation"), prefix) {
			out = append(out, in.bods[i])
		}
	}
	return out
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}
