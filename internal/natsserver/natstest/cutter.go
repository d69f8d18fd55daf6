package natstest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cutter is a TCP proxy in front of a NATS server that can lose the answer
// to one publish. Armed with a subject (CutAfterPublishTo), it forwards the
// client's bytes that carry the next publish to that subject, then closes
// the client's connection before anything more comes back: the server has
// stored the message, and the client never hears so (its request times
// out), as when a leader fails between storing a message and sending its
// acknowledgement. The client reconnects through the Cutter, which then
// forwards everything again until armed anew.
type Cutter struct {
	t      testing.TB
	ln     net.Listener
	target string
	cuts   atomic.Int64

	mu     sync.Mutex
	mode   armMode
	marker []byte // "PUB <subject> " while armed
	held   []byte // the publish a hold keeps back, until the next one
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// armMode is what a Cutter does with the next publish to its subject.
type armMode int

const (
	disarmed armMode = iota
	// cutAfter forwards the publish and cuts the connection before the
	// answer.
	cutAfter
	// hold keeps the publish back and cuts the connection; the next
	// publish to the subject (mode release) goes to the server right
	// after it.
	hold
	release
)

// cutLinger is how long a Cutter still forwards the client's bytes after
// the armed publish, so that a publish split across reads reaches the
// server whole, before it closes the connection.
const cutLinger = 100 * time.Millisecond

// StartCutter starts a Cutter in front of s on a random loopback port; it
// is closed when the test ends.
func StartCutter(t testing.TB, s *server.Server) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cutter{t: t, ln: ln, target: s.Addr().String(), conns: map[net.Conn]struct{}{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

// URL is the address clients connect to instead of the server's.
func (c *Cutter) URL() string { return "nats://" + c.ln.Addr().String() }

// CutAfterPublishTo arms the Cutter for the next publish to subject
// (exactly that subject, with or without headers).
func (c *Cutter) CutAfterPublishTo(subject string) { c.arm(cutAfter, subject) }

// HoldPublishTo arms the Cutter to keep the next publish to subject back
// and cut the client's connection: the publish has not reached the server
// when the client, reconnected, asks what was stored. The server gets it
// later, just before the next publish to subject, as a write that the
// cluster commits late: the next one then finds the subject moved on. The
// held publish must come in one read (a small message does).
func (c *Cutter) HoldPublishTo(subject string) { c.arm(hold, subject) }

func (c *Cutter) arm(m armMode, subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mode, c.marker, c.held = m, []byte("PUB "+subject+" "), nil
}

// Cuts is how many connections the Cutter has cut.
func (c *Cutter) Cuts() int { return int(c.cuts.Load()) }

func (c *Cutter) close() {
	_ = c.ln.Close()
	c.mu.Lock()
	c.closed = true
	for conn := range c.conns {
		_ = conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Cutter) accept() {
	defer c.wg.Done()
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			c.t.Logf("cutter: dial the server: %v", err)
			_ = client.Close()
			continue
		}
		if !c.track(client, server) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		p := &pipe{c: c, client: client, server: server}
		c.wg.Add(2)
		go p.toServer()
		go p.toClient()
	}
}

// track records both ends, so that close can end their goroutines; false
// when the Cutter is closing.
func (c *Cutter) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	for _, conn := range conns {
		c.conns[conn] = struct{}{}
	}
	return true
}

// hit returns what to do with a read: the mode armed if window (the read,
// with the end of the one before) holds the armed publish, else disarmed.
// A hit disarms the Cutter, except that a hold becomes a release; a
// release returns the held publish. marker is the armed publish's.
func (c *Cutter) hit(window []byte) (m armMode, held, marker []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == disarmed || !bytes.Contains(window, c.marker) {
		return disarmed, nil, nil
	}
	m, held, marker = c.mode, c.held, c.marker
	if m == hold {
		c.mode = release
	} else {
		c.mode, c.held = disarmed, nil
	}
	return m, held, marker
}

func (c *Cutter) keep(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = bytes.Clone(frame)
}

// publishFrame returns the bounds in chunk of the PUB or HPUB frame whose
// line holds marker ("PUB <subject> "), false if it is not whole in chunk.
func publishFrame(chunk, marker []byte) (int, int, bool) {
	k := bytes.Index(chunk, marker)
	if k < 0 {
		return 0, 0, false
	}
	start := k
	if k > 0 && chunk[k-1] == 'H' {
		start = k - 1
	}
	eol := bytes.Index(chunk[k:], []byte("\r\n"))
	if eol < 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(chunk[k : k+eol])
	total, err := strconv.Atoi(string(fields[len(fields)-1]))
	if err != nil {
		return 0, 0, false
	}
	end := k + eol + 2 + total + 2
	if end > len(chunk) {
		return 0, 0, false
	}
	return start, end, true
}

// pipe is one client connection and its connection to the server.
type pipe struct {
	c              *Cutter
	client, server net.Conn
	cut            atomic.Bool // nothing more goes to the client
}

func (p *pipe) toServer() {
	defer p.c.wg.Done()
	defer p.closeBoth()
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous read: a marker may span two
	for {
		n, err := p.client.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			switch mode, held, marker := p.c.hit(append(tail, chunk...)); mode {
			case cutAfter:
				// From here the server's answers are dropped: cut before
				// the publish goes out, so its acknowledgement cannot
				// slip through.
				p.cut.Store(true)
				p.c.cuts.Add(1)
				_, _ = p.server.Write(chunk)
				p.linger(buf)
				return
			case hold:
				p.cut.Store(true)
				p.c.cuts.Add(1)
				i, j, ok := publishFrame(chunk, marker)
				if !ok {
					p.c.t.Errorf("cutter: the publish to hold is not whole in one read")
					return
				}
				p.c.keep(chunk[i:j])
				_, _ = p.server.Write(chunk[:i])
				_, _ = p.server.Write(chunk[j:])
				return
			case release:
				if _, err := p.server.Write(held); err != nil {
					return
				}
			}
			if _, err := p.server.Write(chunk); err != nil {
				return
			}
			tail = append(tail[:0], chunk[max(0, n-512):]...)
		}
		if err != nil {
			return
		}
	}
}

// linger forwards what the client still sends for cutLinger.
func (p *pipe) linger(buf []byte) {
	_ = p.client.SetReadDeadline(time.Now().Add(cutLinger))
	for {
		n, err := p.client.Read(buf)
		if n > 0 {
			_, _ = p.server.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (p *pipe) toClient() {
	defer p.c.wg.Done()
	defer p.closeBoth()
	buf := make([]byte, 32<<10)
	for {
		n, err := p.server.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, err := p.client.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !p.cut.Load() {
				p.c.t.Logf("cutter: read from the server: %v", err)
			}
			return
		}
	}
}

func (p *pipe) closeBoth() {
	_ = p.client.Close()
	_ = p.server.Close()
	p.c.mu.Lock()
	delete(p.c.conns, p.client)
	delete(p.c.conns, p.server)
	p.c.mu.Unlock()
}
