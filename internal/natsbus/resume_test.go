package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/natsserver"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

// TestRunnersResumeOnceTheConsumerHasALeader reproduces issue 12's worker
// that claimed nothing: on a fresh 3-node cluster with two workers started
// together, one worker's first pull found no consumer leader ("no
// responders"), and nats.go asks again only when its missing-heartbeat
// check fires (30 s by default), so that worker sat idle, and ready, while
// the other did all the work.
//
// Here both runners' first pull is made to fail on purpose: between
// creating the consumer and consuming, two of the three nodes stop, so the
// consumer has no leader. While it has none, each runner must say it is not
// ready and count the failed pull; once the nodes are back and a leader is
// elected, each must resume within seconds and take work.
func TestRunnersResumeOnceTheConsumerHasALeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := startRestartableCluster(t)
	nc, err := nats.Connect(c.clientURL(0), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := NewPublishJetStream(nc, 256, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	natstest.WaitFor(t, 2*time.Minute, "R3 streams on the cluster", func() bool {
		return EnsureStreams(ctx, js, StreamSettings{Replicas: 3}) == nil
	})

	// The nodes stop once both runners have their consumer and are about
	// to pull. Node 0, the runners' own, stays up, so the pulls are
	// answered at once, by no one.
	var once sync.Once
	var arrived sync.WaitGroup
	arrived.Add(2)
	leaderless := func() {
		arrived.Done()
		arrived.Wait()
		once.Do(func() {
			c.stop(t, 1)
			c.stop(t, 2)
			natstest.WaitFor(t, time.Minute, "the consumer to have no leader", func() bool {
				_, err := nc.Request(fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", EventsStream, WorkerConsumer),
					[]byte(`{"batch":1,"no_wait":true}`), time.Second)
				return errors.Is(err, nats.ErrNoResponders)
			})
		})
	}

	type replica struct {
		r          *ConsumerRunner
		handled    atomic.Int64
		pullErrors atomic.Int64
	}
	replicas := make([]*replica, 2)
	ctxRun, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	cfg := testConsumerConfig()
	for i := range replicas {
		rep := &replica{}
		rep.r = NewConsumerRunner(js, cfg, func(context.Context, Delivery) error {
			rep.handled.Add(1)
			// Slow enough that one runner cannot take the whole load
			// before the other has asked for some.
			time.Sleep(5 * time.Millisecond)
			return nil
		}, zap.NewNop().Named(fmt.Sprintf("runner%d", i)), ConsumerMetrics{PullErrors: func(consumer string) {
			if consumer == WorkerConsumer {
				rep.pullErrors.Add(1)
			}
		}})
		rep.r.beforeConsume = leaderless
		replicas[i] = rep
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rep.r.Run(ctxRun); err != nil {
				t.Errorf("runner %d: %v", i, err)
			}
		}()
	}
	for i, rep := range replicas {
		natstest.WaitFor(t, time.Minute, fmt.Sprintf("runner %d's pull to fail", i), func() bool { return rep.pullErrors.Load() > 0 })
		if err := rep.r.Ready(); err == nil {
			t.Fatalf("runner %d is ready while its consumer has no leader", i)
		} else {
			t.Logf("runner %d while its consumer has no leader: %v", i, err)
		}
	}

	c.start(t, 1)
	c.start(t, 2)
	back := time.Now()
	const n = 200
	pub := NewPublisher(js, 5*time.Second)
	for i := range n {
		natstest.WaitFor(t, time.Minute, "a publish to be stored", func() bool {
			_, err := pub.PublishWebhook(ctx, "dodo.events.payment.succeeded", fmt.Sprintf("msg_%d", i), "1700000000", "v1,sig", []byte(`{}`))
			return err == nil
		})
	}
	// Under the 30 s after which nats.go would have asked again by
	// itself: the runners resume because they watch for a leader.
	for i, rep := range replicas {
		natstest.WaitFor(t, 20*time.Second, fmt.Sprintf("runner %d to be ready and take work", i), func() bool {
			return rep.r.Ready() == nil && rep.handled.Load() > 0
		})
	}
	natstest.WaitFor(t, time.Minute, "every message to be handled", consumerSettled(t, js))
	t.Logf("nodes back to both runners working: %s; handled %d and %d; pull errors %d and %d",
		time.Since(back).Round(time.Millisecond), replicas[0].handled.Load(), replicas[1].handled.Load(),
		replicas[0].pullErrors.Load(), replicas[1].pullErrors.Load())
}

// restartableCluster is a 3-node cluster whose nodes can be stopped and
// started again with the same name, ports and store, as a restarted
// process would be.
type restartableCluster struct {
	mu      sync.Mutex
	cfgs    []natsserver.Config
	servers []*natsserver.Server
}

func startRestartableCluster(t *testing.T) *restartableCluster {
	t.Helper()
	c := &restartableCluster{}
	routes := make([]string, 3)
	routePorts := make([]int, 3)
	for i := range routes {
		routePorts[i] = freeLoopbackPort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i])
	}
	for i := range 3 {
		c.cfgs = append(c.cfgs, natsserver.Config{
			Name: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: freeLoopbackPort(t), StoreDir: t.TempDir(),
			Cluster: &natsserver.ClusterConfig{Name: "resume", Host: "127.0.0.1", Port: routePorts[i], Routes: routes},
		})
		c.servers = append(c.servers, nil)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			if s != nil {
				natsserver.Stop(s)
			}
		}
	})
	for i := range 3 {
		c.start(t, i)
	}
	natstest.WaitFor(t, 2*time.Minute, "a JetStream meta leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return c
}

func (c *restartableCluster) clientURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.cfgs[i].Port)
}

func (c *restartableCluster) start(t *testing.T, i int) {
	t.Helper()
	s, err := natsserver.Start(c.cfgs[i])
	if err != nil {
		t.Fatalf("start node %d: %v", i, err)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

func (c *restartableCluster) stop(t *testing.T, i int) {
	t.Helper()
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		natsserver.Stop(s)
	}
}

// freeLoopbackPort picks a port by binding and releasing it; another
// process may take it in between, a risk these tests accept (the nodes
// must know each other's route ports before they start).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
