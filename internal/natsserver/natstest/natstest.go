// Package natstest starts real embedded NATS servers for tests: one node,
// or a 3-node cluster where failover matters. Each gets its own temporary
// store and random ports and is shut down when the test ends.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/natsserver"
)

// Start starts a single JetStream server listening on a random loopback
// port.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return StartWith(t, natsserver.Config{})
}

// StartWith starts a single server with cfg; Host, Port and StoreDir are
// filled in when empty.
func StartWith(t testing.TB, cfg natsserver.Config) *server.Server {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatalf("start nats server: %v", err)
	}
	t.Cleanup(func() { natsserver.Stop(s) })
	return s
}

// Connect connects to s and closes the connection when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// StartCluster starts an n-node JetStream cluster on loopback and waits for
// a meta leader. It returns the servers and a comma-separated client URL
// list.
//
// Each node must know every node's route port before it starts, so the
// ports are chosen by binding and releasing them, and another process can
// take one in between (seen under scripts/stress.sh: a node never became
// ready). Only when a node cannot start is the whole cluster started again
// on new ports.
func StartCluster(t testing.TB, n int) ([]*server.Server, string) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var servers []*server.Server
		var urls string
		if servers, urls, err = startCluster(t, n); err == nil {
			return servers, urls
		}
		t.Logf("cluster start, attempt %d: %v; again on new ports", attempt, err)
	}
	t.Fatalf("start a %d-node cluster: %v", n, err)
	return nil, ""
}

func startCluster(t testing.TB, n int) ([]*server.Server, string, error) {
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	servers := make([]*server.Server, 0, n)
	urls := ""
	for i := range n {
		s, err := natsserver.Start(natsserver.Config{
			Name: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir(),
			Cluster: &natsserver.ClusterConfig{Name: "test", Host: "127.0.0.1", Port: ports[i], Routes: routes},
		})
		if err != nil {
			for _, started := range servers {
				natsserver.Stop(started)
			}
			return nil, "", fmt.Errorf("node n%d: %w", i+1, err)
		}
		servers = append(servers, s)
		if i > 0 {
			urls += ","
		}
		urls += s.ClientURL()
	}
	t.Cleanup(func() {
		for _, s := range servers {
			natsserver.Stop(s)
		}
	})
	// A bound far above an election (well under a second), for a cluster
	// that never elects.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return servers, urls, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("cluster elected no JetStream meta leader within 2 minutes")
	return nil, "", nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Messages returns the messages of stream whose subject starts with prefix
// ("" for all), in stream order.
func Messages(t testing.TB, js jetstream.JetStream, stream, prefix string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			// A slow server (a request timed out) must not read as a
			// message that is not there.
			t.Fatalf("stream %s, message %d: %v", stream, seq, err)
		}
		if strings.HasPrefix(m.Subject, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor polls cond every 20 ms until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Settled returns a condition that holds once the durable consumer has
// acknowledged (or terminated) everything of its stream it is for (the
// messages its filter matches): its ack floor reached the last of them and
// nothing is outstanding. NumPending alone is not enough: right after a
// publish the consumer may not have counted the new message yet.
func Settled(js jetstream.JetStream, stream, consumer string) func() bool {
	return func() bool {
		ctx := context.Background()
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return false
		}
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		var last uint64
		if filter := c.CachedInfo().Config.FilterSubject; filter != "" {
			m, err := st.GetLastMsgForSubject(ctx, filter)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
			case err != nil:
				return false
			default:
				last = m.Sequence
			}
		} else {
			si, err := st.Info(ctx)
			if err != nil {
				return false
			}
			last = si.State.LastSeq
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= last && ci.NumAckPending == 0
	}
}
