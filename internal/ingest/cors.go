package ingest

import (
	"net/http"
	"slices"
	"strings"
)

// CORS for the routes a customer's browser calls (accept, decline): an
// offer page served from the merchant's own origin posts the offer's token
// there. Only origins on the allow-list get the CORS headers, so a page
// elsewhere cannot read the answers; "*" allows any origin. Credentials are
// never allowed (the routes take a token in the body, not cookies), so a
// wildcard never comes with them.

// corsMaxAge is how long a browser may keep a preflight's answer, seconds.
const corsMaxAge = "600"

// allowOrigin reports whether origin may call the browser routes.
func allowOrigin(allowed []string, origin string) bool {
	return origin != "" && (slices.Contains(allowed, "*") || slices.Contains(allowed, origin))
}

// withCORS answers the preflight (OPTIONS) of an allowed origin and adds
// the CORS headers to the answers it gets; other origins get no CORS
// headers, which browsers read as a refusal.
func withCORS(allowed []string, methods string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		ok := allowOrigin(allowed, origin)
		if ok {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if !ok {
			writeError(w, http.StatusForbidden, "origin_not_allowed", "this origin may not call offerflow's offer routes (OFFERFLOW_CORS_ORIGINS)")
			return
		}
		w.Header().Set("Access-Control-Allow-Methods", methods)
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// ParseOrigins reads OFFERFLOW_CORS_ORIGINS: origins separated by commas or
// spaces, each "*" or scheme://host[:port] with no path.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if o != "*" && !validOrigin(o) {
			return nil, &originError{origin: o}
		}
		out = append(out, strings.TrimSuffix(o, "/"))
	}
	return out, nil
}

type originError struct{ origin string }

func (e *originError) Error() string {
	return "origin " + strings.ToValidUTF8(e.origin, "?") + ": want * or scheme://host[:port], without a path"
}

func validOrigin(o string) bool {
	scheme, rest, ok := strings.Cut(strings.TrimSuffix(o, "/"), "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" {
		return false
	}
	return !strings.ContainsAny(rest, "/?#@ \t")
}
