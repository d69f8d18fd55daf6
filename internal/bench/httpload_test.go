package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load client against net/http's server: what the ingest sees must be
// the request a sender writes, and every answer must be read whole.
func TestLoadClientPost(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/webhooks/dodo":
			http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		case r.Header.Get("Webhook-Id") == "msg_refused":
			http.Error(w, `{"error":"bad_signature"}`, http.StatusUnauthorized)
		case r.Header.Get("Webhook-Id") == "msg_close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "closing")
		case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Webhook-Timestamp") != "1700000000" ||
			r.Header.Get("Webhook-Signature") != "v1,c2ln" || string(body) != `{"type":"payment.succeeded"}`:
			http.Error(w, fmt.Sprintf("request not as sent: %v %q", r.Header, body), http.StatusBadRequest)
		default:
			_, _ = io.WriteString(w, `{"status":"stored","duplicate":false}`+"\n")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	url := srv.URL + "/webhooks/dodo"
	lc := newLoadClient(4)
	defer lc.CloseIdleConnections()
	ctx := context.Background()
	body := []byte(`{"type":"payment.succeeded"}`)
	req := func(id string) []byte { return requestTail(id, "1700000000", "v1,c2ln", body) }

	for i := range 5 {
		if err := lc.post(ctx, url, req(fmt.Sprintf("msg_%d", i))); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("5 requests in a row opened %d connections, want 1 (kept alive)", got)
	}
	err := lc.post(ctx, url, req("msg_refused"))
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "bad_signature") {
		t.Errorf("refused request: got %v, want HTTP 401 quoting the answer", err)
	}
	if err := lc.post(ctx, url, req("msg_close")); err != nil {
		t.Errorf("answer with Connection: close: %v", err)
	}
	if err := lc.post(ctx, url, req("msg_after_close")); err != nil {
		t.Errorf("request after a closed connection: %v", err)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("opened %d connections, want 2 (a new one after Connection: close)", got)
	}
	if err := lc.post(ctx, srv.URL+"/elsewhere", req("msg_x")); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("other path: got %v, want HTTP 404", err)
	}
	if err := lc.post(ctx, "https://example.com/x", req("msg_x")); err == nil {
		t.Error("an https URL was accepted")
	}
}

// A kept-alive connection the server closed while idle is retried once on
// a new connection, as net/http's client does; a server that answers
// nothing on a new connection is an error.
func TestLoadClientStaleConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	lc := newLoadClient(1)
	defer lc.CloseIdleConnections()
	tail := requestTail("msg_1", "1700000000", "v1,c2ln", []byte("{}"))
	if err := lc.post(context.Background(), srv.URL+"/", tail); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server closes the idle connection
	if err := lc.post(context.Background(), srv.URL+"/", tail); err != nil {
		t.Errorf("after the server closed the idle connection: %v", err)
	}

	// A server that reads the request and closes without an answer.
	addr := rawServer(t, func(c net.Conn) { _, _ = bufio.NewReader(c).ReadString('\n') })
	err := lc.post(context.Background(), "http://"+addr+"/", tail)
	if err == nil || !strings.Contains(err.Error(), "connection closed before the answer") {
		t.Errorf("server that closes: got %v, want an error", err)
	}
}

// rawServer serves each connection with serve on loopback TCP, then closes
// it, until the test ends; it returns the address.
func rawServer(t testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// Answers the client must refuse rather than misread.
func TestLoadClientAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		status       int
		body         string
		err          string
	}{
		{name: "ok", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
		{name: "header case and spaces", answer: "HTTP/1.1 503 Service Unavailable\r\ncontent-length:   3 \r\nRetry-After: 5\r\n\r\nbad", status: 503, body: "bad"},
		{name: "empty body", answer: "HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n\r\n", status: 204},
		{name: "chunked", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", err: "Transfer-Encoding"},
		{name: "no length", answer: "HTTP/1.1 200 OK\r\n\r\nok", err: "without Content-Length"},
		{name: "length too large", answer: "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", err: "not a length"},
		{name: "negative length", answer: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "not a length"},
		{name: "short body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", err: "read answer body"},
		{name: "not http", answer: "SSH-2.0-OpenSSH\r\n", err: "malformed status line"},
		{name: "bad code", answer: "HTTP/1.1 2x0 OK\r\n\r\n", err: "malformed status line"},
		{name: "header without colon", answer: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", err: "malformed answer header"},
		{name: "cut in headers", answer: "HTTP/1.1 200 OK\r\nContent-Len", err: "read answer headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := answerFrom(t, tc.answer)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %d %q %v, want an error with %q", status, body, err, tc.err)
				}
				return
			}
			if err != nil || status != tc.status || string(body) != tc.body {
				t.Fatalf("got %d %q %v, want %d %q", status, body, err, tc.status, tc.body)
			}
		})
	}
}

// answerFrom runs roundTrip against a peer on loopback TCP that reads
// the request line, answers with answer and closes.
func answerFrom(t testing.TB, answer string) (int, []byte, error) {
	addr := rawServer(t, func(c net.Conn) {
		_, _ = bufio.NewReader(c).ReadString('\n') // the rest of the request fits the socket's buffer
		_, _ = io.WriteString(c, answer)
	})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &loadConn{c: nc, br: bufio.NewReaderSize(nc, 4096)}
	status, body, _, err := c.roundTrip([]byte("POST / HTTP/1.1\r\nHost: x\r\n"), []byte("Content-Length: 0\r\n\r\n"))
	return status, bytes.Clone(body), err
}

// FuzzLoadClientAnswer: whatever a server answers, the client returns a
// status or an error, without panicking or reading past the answer.
func FuzzLoadClientAnswer(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
	f.Fuzz(func(t *testing.T, answer string) {
		status, body, err := answerFrom(t, answer)
		if err == nil && (status < 100 || len(body) > maxAnswer) {
			t.Fatalf("accepted status %d with %d bytes", status, len(body))
		}
	})
}
