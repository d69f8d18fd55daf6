// Package natsserver runs an embedded NATS server with JetStream, for
// `offerflow dev`, the benchmarks and the tests. Production runs a real
// nats-server cluster, as docs/correctness.md says.
package natsserver

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded server. The alias lets callers hold one
// without importing nats-server themselves.
type Server = server.Server

// Config is an embedded server's configuration.
type Config struct {
	// Name is the server name (required in a cluster).
	Name string
	// Host and Port to listen on for clients; Port -1 picks a free port.
	Host string
	Port int
	// StoreDir is where JetStream keeps its files. Required: an empty one
	// would silently mean $TMPDIR.
	StoreDir string
	// SyncAlways fsyncs every write before acknowledging it. Without it,
	// JetStream fsyncs every 2 minutes, and an OS crash or power loss can
	// lose acknowledged messages on a single server.
	SyncAlways bool
	// Cluster, if set, joins a cluster.
	Cluster *ClusterConfig
	// Logs turns the server's own logging on.
	Logs bool
}

// ClusterConfig joins an embedded server to a cluster.
type ClusterConfig struct {
	Name   string
	Host   string
	Port   int
	Routes []string // nats-route://host:port of every node, this one included
}

// Start starts a server and waits until it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: cfg.SyncAlways,
		// NoSigs: without it the server installs its own signal handlers
		// and calls os.Exit on SIGTERM, skipping our graceful shutdown.
		NoSigs: true,
		NoLog:  !cfg.Logs,
	}
	if cfg.Cluster != nil {
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: cfg.Cluster.Host, Port: cfg.Cluster.Port}
		routes, err := routeURLs(cfg.Cluster.Routes)
		if err != nil {
			return nil, err
		}
		opts.Routes = routes
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if cfg.Logs {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, errors.New("natsserver: not ready for connections after 15s")
	}
	return s, nil
}

func routeURLs(routes []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("natsserver: route %q: %w", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Stop shuts s down and waits for it.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}
