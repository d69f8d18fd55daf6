package standin

import (
	"maps"
	"net/http"
	"strings"
	"sync"
)

// callCounter counts the requests each of Dodo's routes answered, faults
// included: what a benchmark or test reads to know how many API calls
// offerflow spent on its work (GET /_standin/calls). The stand-in's own
// routes are not counted; they are not Dodo's.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int64 // by route pattern, e.g. "GET /products/{id}"
}

func (c *callCounter) add(pattern string) {
	// "/" (an unknown path) has no method; the stand-in's routes are its own.
	if !strings.Contains(pattern, " ") || strings.Contains(pattern, " /_standin/") {
		return
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[pattern]++
	c.mu.Unlock()
}

// Calls is how many requests the stand-in's Dodo routes answered since it
// started (GET /_standin/calls): Total, and ByRoute by the route's pattern
// as routes.go names it ("GET /products/{id}"). Requests refused for a
// missing API key and requests to unknown paths are not counted.
type Calls struct {
	Total   int64            `json:"total"`
	ByRoute map[string]int64 `json:"by_route"`
}

// Since is what was called between before and c, two readings of the
// same stand-in: the routes called in between, with their counts.
func (c Calls) Since(before Calls) Calls {
	out := Calls{Total: c.Total - before.Total, ByRoute: map[string]int64{}}
	for route, n := range c.ByRoute {
		if d := n - before.ByRoute[route]; d > 0 {
			out.ByRoute[route] = d
		}
	}
	return out
}

// Calls returns the requests each of Dodo's routes answered so far.
func (s *Server) Calls() Calls {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	out := Calls{ByRoute: maps.Clone(s.calls.n)}
	if out.ByRoute == nil {
		out.ByRoute = map[string]int64{}
	}
	for _, n := range out.ByRoute {
		out.Total += n
	}
	return out
}

func (s *Server) getCalls(*http.Request) (any, error) { return s.Calls(), nil }
