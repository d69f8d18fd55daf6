package clustertest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// configFile is the cluster config operators deploy, from this package's
// directory; the test runs it as is.
const configFile = "../../deploy/nats/nats-server.conf"

// natsCluster is three nats-server processes, each started from
// deploy/nats/nats-server.conf with its own environment.
type natsCluster struct {
	t      testing.TB
	bin    string
	conf   string // the config file, absolute
	logDir string
	nodes  []*natsNode
}

type natsNode struct {
	name       string
	clientPort int
	env        []string
	proc       *proc
	starts     int
}

// startCluster starts three nodes on loopback and waits for each to be
// ready. A node that cannot bind its port (taken between the choice and
// the start) makes the whole cluster start again on new ports.
func startCluster(t testing.TB, bin, conf, logDir string) *natsCluster {
	t.Helper()
	conf, err := filepath.Abs(conf)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		c, err := tryStartCluster(t, bin, conf, logDir)
		if err == nil {
			return c
		}
		if !errors.Is(err, errBind) || attempt == 3 {
			t.Fatalf("start the cluster: %v", err)
		}
		t.Logf("start the cluster, attempt %d: %v; again on new ports", attempt, err)
	}
}

func tryStartCluster(t testing.TB, bin, conf, logDir string) (*natsCluster, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	routes := make([]string, 3)
	for i := range routes {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i])
	}
	c := &natsCluster{t: t, bin: bin, conf: conf, logDir: logDir}
	for i := range 3 {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1), clientPort: ports[i]}
		n.env = []string{
			"NATS_SERVER_NAME=" + n.name,
			fmt.Sprintf("NATS_CLIENT_LISTEN=127.0.0.1:%d", ports[i]),
			"NATS_HTTP_LISTEN=127.0.0.1:-1", // a free port; the test does not use it
			fmt.Sprintf("NATS_CLUSTER_LISTEN=127.0.0.1:%d", ports[3+i]),
			"NATS_ROUTES=[" + strings.Join(routes, ", ") + "]",
			"NATS_STORE_DIR=" + filepath.Join(t.TempDir(), n.name),
		}
		c.nodes = append(c.nodes, n)
	}
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			for _, n := range c.nodes {
				if n.proc != nil {
					n.proc.kill()
				}
			}
			return nil, err
		}
	}
	return c, nil
}

// start starts node i (again, after a kill: same name, ports and store)
// and waits until it accepts clients.
func (c *natsCluster) start(i int) error {
	n := c.nodes[i]
	n.starts++
	p, err := startProc(c.t, fmt.Sprintf("nats-%s-%d", n.name, n.starts), c.logDir, c.bin, n.env, "-c", c.conf)
	if err != nil {
		return err
	}
	n.proc = p
	var bindErr string
	ok := waitUntil(30*time.Second, func() bool {
		var ready bool
		ready, bindErr = p.out.serverReady()
		return ready || bindErr != "" || p.exited()
	})
	switch {
	case bindErr != "":
		p.kill()
		return fmt.Errorf("%w: node %s: %s", errBind, n.name, bindErr)
	case !ok || p.exited():
		return fmt.Errorf("node %s not ready within 30s (exited: %v)", n.name, p.exited())
	}
	return nil
}

// kill kills node i with SIGKILL.
func (c *natsCluster) kill(i int) { c.nodes[i].proc.kill() }

// restart starts node i again after a kill. Its ports were its own a
// moment ago; a bind failure is retried for a while before the test fails.
func (c *natsCluster) restart(i int) {
	c.t.Helper()
	var err error
	for range 10 {
		if err = c.start(i); err == nil || !errors.Is(err, errBind) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("restart %s: %v", c.nodes[i].name, err)
	}
}

func (c *natsCluster) urls() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort))
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) index(name string) int {
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

// leader returns the name of the node leading stream (a bucket's stream is
// KV_<bucket>), or "" while it has none or the cluster cannot say.
func leader(js jetstream.JetStream, stream string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	info := st.CachedInfo()
	if info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// current reports whether every replica of stream is current: a restarted
// node has caught up.
func current(js jetstream.JetStream, stream string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return false
	}
	info := st.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		return false
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}
