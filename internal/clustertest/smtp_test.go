package clustertest

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// inbox is an SMTP server in the test process, the outside edge the
// workers send confirmations to. It counts what it accepts by the
// confirmation's id (the X-Offerflow-Confirmation header) and by
// Message-ID.
type inbox struct {
	addr string

	mu         sync.Mutex
	byID       map[string]int
	messageIDs map[string]bool
	total      int
}

func startInbox(t testing.TB) *inbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{addr: ln.Addr().String(), byID: map[string]int{}, messageIDs: map[string]bool{}}
	srv := smtp.NewServer(inboxBackend{in})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-served
	})
	return in
}

func (in *inbox) counts() (byID map[string]int, distinctMessageIDs, total int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	byID = make(map[string]int, len(in.byID))
	for k, v := range in.byID {
		byID[k] = v
	}
	return byID, len(in.messageIDs), in.total
}

type inboxBackend struct{ in *inbox }

func (b inboxBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &inboxSession{in: b.in}, nil
}

type inboxSession struct{ in *inbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Reset()                               {}
func (s *inboxSession) Logout() error                        { return nil }

func (s *inboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	s.in.total++
	s.in.byID[m.Header.Get("X-Offerflow-Confirmation")]++
	s.in.messageIDs[m.Header.Get("Message-Id")] = true
	return nil
}
