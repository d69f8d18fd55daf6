package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/offertoken"
	"github.com/offerflow/offerflow/internal/rules"
)

// OffersConfig are the settings of the offer engine, which the worker (to
// make and settle offers) and ingest (to serve accept, decline and offer
// requests) share.
type OffersConfig struct {
	DodoAPIKey      string
	DodoEnvironment string
	DodoBaseURL     string
	OfferKey        string
	ReturnURL       string
	// PublicURL is the ingest's base URL as customers reach it: offer
	// messages and answers carry the offer page's URL under it.
	PublicURL     string
	SweepInterval time.Duration
	// DodoRateLimit is this process's budget of Dodo API requests a
	// minute (0: none), DodoRateBurst how many may go at once.
	DodoRateLimit int
	DodoRateBurst int
	// ProductCacheTTL is how long the engine reuses a product read from
	// Dodo; 0: never.
	ProductCacheTTL time.Duration
}

// Declare adds the offer settings to s.
func (c *OffersConfig) Declare(s *conf.Set) {
	s.Secret(&c.DodoAPIKey, "dodo-api-key", "DODO_API_KEY", "Dodo API key (bearer); required when the rules file has offer rules")
	s.String(&c.DodoEnvironment, "dodo-environment", "DODO_ENVIRONMENT", dodo.EnvTestMode, "test_mode or live_mode: which Dodo host")
	s.String(&c.DodoBaseURL, "dodo-api-base-url", "DODO_API_BASE_URL", "", "overrides the host DODO_ENVIRONMENT picks (a proxy, the stand-in)")
	s.Secret(&c.OfferKey, "offer-key", "OFFERFLOW_OFFER_KEY", "keys that sign offer tokens, kid:base64url[,kid:base64url...]; the first signs; required with offers")
	s.String(&c.ReturnURL, "return-url", "OFFERFLOW_RETURN_URL", "", "where Dodo's checkout pages send the customer back; empty: Dodo's default")
	s.String(&c.PublicURL, "public-url", "OFFERFLOW_PUBLIC_URL", "", "the ingest's public base URL (https://offers.example.com, optionally with a path prefix): offers.created messages and the offer API's answers carry page_url, the hosted offer page, under it; empty: no page_url")
	s.Int(&c.DodoRateLimit, "dodo-rate-limit", "DODO_RATE_LIMIT", 240, "Dodo API requests a minute this process may send; Dodo's default tier allows 240 a minute for the whole account, so give each process a share; 0: no limit")
	s.Int(&c.DodoRateBurst, "dodo-rate-burst", "DODO_RATE_BURST", dodo.DefaultBurst, "Dodo API requests this process may send at once (Dodo's default tier: a burst of 40 a second per account)")
	s.Duration(&c.ProductCacheTTL, "dodo-product-cache-ttl", "DODO_PRODUCT_CACHE_TTL", offerengine.DefaultProductTTL, "how long a product (name, price) read from Dodo is reused; Dodo sends no webhook when a product changes, so a new price reaches new offers within this; 0: read it for every offer")
	s.Duration(&c.SweepInterval, "offer-sweep-interval", "OFFERFLOW_OFFER_SWEEP_INTERVAL", 30*time.Second, "how often the worker expires offers and settles accepted ones whose outcome was lost")
}

// Enabled reports whether the engine's secrets are set.
func (c *OffersConfig) Enabled() bool { return c.DodoAPIKey != "" && c.OfferKey != "" }

// Validate reports bad offer settings; required says offers must be on.
func (c *OffersConfig) Validate(required bool) error {
	var errs []error
	if required && c.DodoAPIKey == "" {
		errs = append(errs, errors.New("DODO_API_KEY is required: the rules file has offer rules"))
	}
	if required && c.OfferKey == "" {
		errs = append(errs, errors.New("OFFERFLOW_OFFER_KEY is required: the rules file has offer rules"))
	}
	if c.OfferKey != "" {
		if _, err := offertoken.ParseKeys(c.OfferKey); err != nil {
			errs = append(errs, fmt.Errorf("OFFERFLOW_OFFER_KEY: %w", err))
		}
	}
	switch c.DodoEnvironment {
	case dodo.EnvTestMode, dodo.EnvLiveMode:
	default:
		errs = append(errs, fmt.Errorf("DODO_ENVIRONMENT %q: want %s or %s", c.DodoEnvironment, dodo.EnvTestMode, dodo.EnvLiveMode))
	}
	if c.ReturnURL != "" {
		if u, err := url.Parse(c.ReturnURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("OFFERFLOW_RETURN_URL %q: want an http(s) URL", c.ReturnURL))
		}
	}
	if _, err := PublicBase(c.PublicURL); err != nil {
		errs = append(errs, err)
	}
	if c.DodoRateLimit < 0 {
		errs = append(errs, errors.New("DODO_RATE_LIMIT must be 0 (no limit) or more requests a minute"))
	}
	if c.DodoRateBurst < 1 {
		errs = append(errs, errors.New("DODO_RATE_BURST must be at least 1"))
	}
	if c.ProductCacheTTL < 0 {
		errs = append(errs, errors.New("DODO_PRODUCT_CACHE_TTL must be 0 (no cache) or more"))
	}
	if c.SweepInterval < time.Second {
		errs = append(errs, errors.New("OFFERFLOW_OFFER_SWEEP_INTERVAL must be at least 1s"))
	}
	return errors.Join(errs...)
}

// newEngine builds the offer engine, or returns nil when offers are off.
func (c *OffersConfig) newEngine(ctx context.Context, conn *natsbus.Conn, catalog *rules.Catalog, log *zap.Logger,
	reg prometheus.Registerer, now func() time.Time, httpTimeout time.Duration, tp trace.TracerProvider) (*offerengine.Engine, error) {
	if !c.Enabled() {
		return nil, nil
	}
	rateLimit := float64(c.DodoRateLimit) / 60 // per second
	if c.DodoRateLimit == 0 {
		rateLimit = -1 // none
	}
	client, err := dodo.New(dodo.Config{APIKey: c.DodoAPIKey, Environment: c.DodoEnvironment, BaseURL: c.DodoBaseURL,
		Timeout: httpTimeout, Now: now, HTTPClient: dodoHTTPClient(reg, tp), RateLimit: rateLimit, Burst: c.DodoRateBurst,
		LimiterWaited: limiterWaitMetric(reg)})
	if err != nil {
		return nil, err
	}
	keys, err := offertoken.ParseKeys(c.OfferKey)
	if err != nil {
		return nil, fmt.Errorf("OFFERFLOW_OFFER_KEY: %w", err)
	}
	signer, err := offertoken.NewSigner(keys, now)
	if err != nil {
		return nil, err
	}
	store, err := conn.OfferStore(ctx)
	if err != nil {
		return nil, err
	}
	accessStore, err := conn.AccessStore(ctx)
	if err != nil {
		return nil, err
	}
	cfg := offerengine.DefaultConfig()
	cfg.ReturnURL = c.ReturnURL
	if cfg.PublicURL, err = PublicBase(c.PublicURL); err != nil {
		return nil, err
	}
	cfg.ProductTTL = c.ProductCacheTTL
	log.Info("offers on", zap.String("dodo", client.BaseURL()), zap.Stringer("offer_keys", signer), zap.String("public_url", cfg.PublicURL))
	return offerengine.New(offerengine.Deps{
		Dodo: client, Store: store, Access: accessStore, Pub: conn.Publisher(10 * time.Second),
		Catalog: catalog, Signer: signer, Now: now, Log: log, Metrics: offerengine.NewMetrics(reg), Tracer: tp,
	}, cfg)
}

// PublicBase checks OFFERFLOW_PUBLIC_URL and returns it without a trailing
// slash: an http(s) URL with a host and at most a path prefix (no query,
// fragment or user info, which the page URLs built on it would carry
// along). Empty is allowed: no page URLs.
func PublicBase(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(s, "?") || strings.Contains(s, "#") {
		return "", errors.New("OFFERFLOW_PUBLIC_URL: want an http(s) URL with a host and at most a path, like https://offers.example.com (no user, query or fragment)")
	}
	return strings.TrimRight(s, "/"), nil
}
