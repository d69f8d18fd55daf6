package bench

// The load generator's HTTP/1.1 client. The benches share the machine's
// CPUs with the servers they measure, so every microsecond the load
// generator spends on a request is taken from them: net/http's client
// (a transport with a read and a write goroutine per connection, a header
// map and a response object per request) cost about 55 µs of CPU per
// request here, as much as half of what the ingest spends storing one.
// This client writes a request prepared once, byte for byte, on a kept-
// alive connection and reads the answer's status line, headers and body
// with one bufio.Reader: the servers see the same requests, and the
// figures measure them rather than the client. (In production the
// sender, Dodo, is not on the ingest's machine at all.)

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// loadTimeout bounds one request, from its write to the answer's end.
const loadTimeout = 30 * time.Second

// maxAnswer is the largest answer body read; a server that sends more is
// broken for this bench's purposes.
const maxAnswer = 64 << 10

// loadClient keeps up to maxIdle idle connections per server. It is safe
// for concurrent use; each request holds a connection of its own.
type loadClient struct {
	maxIdle int
	dialer  net.Dialer
	mu      sync.Mutex
	targets map[string]*loadTarget // by URL
}

func newLoadClient(maxIdle int) *loadClient {
	return &loadClient{maxIdle: maxIdle, dialer: net.Dialer{Timeout: 5 * time.Second}, targets: map[string]*loadTarget{}}
}

// loadTarget is one URL: its address, the request line and Host header
// every request to it starts with, and its idle connections.
type loadTarget struct {
	addr string
	head []byte
	idle chan *loadConn
}

type loadConn struct {
	c  net.Conn
	br *bufio.Reader
	// body is reused for every answer read on this connection.
	body []byte
}

func (lc *loadClient) target(rawURL string) (*loadTarget, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if t, ok := lc.targets[rawURL]; ok {
		return t, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("load client: %q: only http://host:port/path URLs", rawURL)
	}
	t := &loadTarget{
		addr: u.Host,
		head: []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"),
		idle: make(chan *loadConn, lc.maxIdle),
	}
	lc.targets[rawURL] = t
	return t, nil
}

// requestTail is what follows the request line and Host header of a
// signed webhook request: its headers, as a sender writes them, and its
// body.
func requestTail(id, ts, sig string, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 256)
	b.WriteString("Content-Type: application/json\r\nWebhook-Id: ")
	b.WriteString(id)
	b.WriteString("\r\nWebhook-Timestamp: ")
	b.WriteString(ts)
	b.WriteString("\r\nWebhook-Signature: ")
	b.WriteString(sig)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// post sends one request (tail, after the target's request line and Host)
// and reads the whole answer, so that the connection can be reused.
// Anything but 200 is an error that quotes the answer.
func (lc *loadClient) post(ctx context.Context, rawURL string, tail []byte) error {
	t, err := lc.target(rawURL)
	if err != nil {
		return err
	}
	c, reused, err := lc.conn(ctx, t)
	if err != nil {
		return err
	}
	status, body, keep, err := c.roundTrip(t.head, tail)
	var stale *staleConnError
	if reused && errors.As(err, &stale) {
		// The server closed the idle connection as the request went out
		// (its idle timeout): nothing of it was answered. net/http's
		// client sends such a request again on a new connection; so
		// does this one, once.
		c.c.Close()
		if c, err = lc.dial(ctx, t); err != nil {
			return err
		}
		status, body, keep, err = c.roundTrip(t.head, tail)
	}
	if err != nil || !keep {
		c.c.Close() // a failed or closing connection is not reused
		if err != nil {
			return err
		}
	}
	// Quoted before the connection, and the buffer body is in, can go to
	// another request.
	var answer error
	if status != 200 {
		answer = fmt.Errorf("HTTP %d: %s", status, bytes.TrimSpace(body))
	}
	if keep {
		select {
		case t.idle <- c:
		default:
			c.c.Close()
		}
	}
	return answer
}

// conn returns an idle connection to t, or a new one; reused says which.
func (lc *loadClient) conn(ctx context.Context, t *loadTarget) (c *loadConn, reused bool, err error) {
	select {
	case c = <-t.idle:
		return c, true, nil
	default:
		c, err = lc.dial(ctx, t)
		return c, false, err
	}
}

func (lc *loadClient) dial(ctx context.Context, t *loadTarget) (*loadConn, error) {
	nc, err := lc.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return &loadConn{c: nc, br: bufio.NewReaderSize(nc, 4096)}, nil
}

// staleConnError is a connection that failed before any byte of the
// answer arrived.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string {
	return "connection closed before the answer: " + e.err.Error()
}
func (e *staleConnError) Unwrap() error { return e.err }

// closedOr is err as a staleConnError when it says the peer closed the
// connection (not a timeout: a server that does not answer is measured).
func closedOr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &staleConnError{err}
	}
	return err
}

// roundTrip writes head and tail in one writev and reads the answer. keep
// is false when the server said it closes the connection.
func (c *loadConn) roundTrip(head, tail []byte) (status int, body []byte, keep bool, err error) {
	if err := c.c.SetDeadline(time.Now().Add(loadTimeout)); err != nil {
		return 0, nil, false, err
	}
	bufs := net.Buffers{head, tail}
	if _, err := bufs.WriteTo(c.c); err != nil {
		return 0, nil, false, closedOr(err)
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 {
			return 0, nil, false, closedOr(err)
		}
		return 0, nil, false, fmt.Errorf("read answer: %w", err)
	}
	status, err = parseStatusLine(line)
	if err != nil {
		return 0, nil, false, err
	}
	length, keep := -1, true
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, fmt.Errorf("read answer headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("malformed answer header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxAnswer {
				return 0, nil, false, fmt.Errorf("answer Content-Length %q: not a length up to %d", value, maxAnswer)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// The servers measured answer small bodies, which net/http
			// sends with a Content-Length.
			return 0, nil, false, fmt.Errorf("answer with Transfer-Encoding %q: not supported by the load client", value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return 0, nil, false, errors.New("answer without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, nil, false, fmt.Errorf("read answer body: %w", err)
	}
	return status, c.body, keep, nil
}

// parseStatusLine reads the code of "HTTP/1.1 200 OK\r\n".
func parseStatusLine(line []byte) (int, error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return 0, fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	return code, nil
}

// CloseIdleConnections closes every idle connection; later requests open
// new ones.
func (lc *loadClient) CloseIdleConnections() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, t := range lc.targets {
		closeIdle(t.idle)
	}
}

func closeIdle(idle chan *loadConn) {
	for {
		select {
		case c := <-idle:
			c.c.Close()
		default:
			return
		}
	}
}
