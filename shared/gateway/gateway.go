// Package gateway assembles what both BFFs serve from: the logger, the
// metrics, the five typed clients, the token verifier, the order flow, the
// checkout journal and the HTTP server with its shared middleware. A BFF
// adds only its routes and its views. The checkout journal lives in a state
// file under STATE_DIR and rate-limit buckets in memory, or both in Redis
// when REDIS_URL is set so that replicas share them.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/catalog"
	"storefront.dev/shared/config"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/telemetry"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/notification"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
)

// Gateway is the assembled core of a BFF.
type Gateway struct {
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	Server  *httpserver.Server

	Products      *product.Client
	Orders        *order.Client
	Payments      *payment.Client
	Users         *user.Client
	Notifications *notification.Client

	Verifier *auth.Verifier
	Flow     *orderflow.Flow

	// RateLimits holds the buckets of every rate-limit policy, in memory or
	// in Redis; Limits are the middleware a BFF mounts, one per policy.
	RateLimits ratelimit.Store
	Limits     httpserver.Limits
	// Catalog serves public catalog reads from memory in front of Products.
	Catalog *catalog.Cache

	services  []*upstream.Service
	pprofAddr string
	// redis is the client of the shared store, nil without REDIS_URL.
	redis *redis.Client
	// stateFile is the checkout journal on disk, nil with REDIS_URL.
	stateFile *boltstore.Store
}

// New builds a Gateway named name from the shared settings; logs go to stdout
// as JSON.
func New(name string, cfg config.Base, stdout io.Writer) (*Gateway, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("app", name)
	metrics := telemetry.NewMetrics()
	g := &Gateway{Logger: logger, Metrics: metrics, pprofAddr: cfg.PprofAddr}

	newService := func(svc string, urls []string) (*upstream.Service, error) {
		s, err := upstream.NewService(svc, urls,
			upstream.WithTimeout(cfg.Upstreams.CallTimeout),
			upstream.WithRetries(cfg.Upstreams.Retries),
			upstream.WithBreaker(upstream.BreakerSettings{
				ConsecutiveFailures: uint32(cfg.Upstreams.BreakerFailures),
				OpenTimeout:         cfg.Upstreams.BreakerOpenTimeout,
			}),
			upstream.WithObserver(metrics),
			upstream.WithHeaders(httpserver.PropagateHeaders),
		)
		if err != nil {
			return nil, fmt.Errorf("%s upstream: %w", svc, err)
		}
		g.services = append(g.services, s)
		return s, nil
	}
	ps, err := newService("product", cfg.Upstreams.Product)
	if err != nil {
		return nil, err
	}
	os, err := newService("order", cfg.Upstreams.Order)
	if err != nil {
		return nil, err
	}
	pay, err := newService("payment", cfg.Upstreams.Payment)
	if err != nil {
		return nil, err
	}
	us, err := newService("user", cfg.Upstreams.User)
	if err != nil {
		return nil, err
	}
	ns, err := newService("notification", cfg.Upstreams.Notification)
	if err != nil {
		return nil, err
	}
	g.Products, g.Orders, g.Payments = product.New(ps), order.New(os), payment.New(pay)
	g.Users, g.Notifications = user.New(us), notification.New(ns)
	g.Catalog = catalog.New(g.Products,
		catalog.WithProductTTL(cfg.Cache.ProductTTL),
		catalog.WithStockTTL(cfg.Cache.StockTTL),
		catalog.WithListTTL(cfg.Cache.ListTTL),
		catalog.WithMaxItems(cfg.Cache.MaxItems),
		catalog.WithObserver(metrics),
	)

	g.Verifier = auth.NewVerifier(g.Users,
		auth.WithIssuer(cfg.Auth.Issuer),
		auth.WithAudience(cfg.Auth.Audience),
		auth.WithLeeway(cfg.Auth.Leeway),
		auth.WithRefreshInterval(cfg.Auth.JWKSRefreshInterval),
		auth.WithMaxTokenSize(cfg.Auth.MaxTokenBytes),
	)
	journal, err := g.openStores(name, cfg)
	if err != nil {
		return nil, err
	}
	g.Flow = orderflow.New(orderflow.Deps{
		Catalog:  g.Products,
		Payments: g.Payments,
		Orders:   g.Orders,
		Profiles: g.Users,
		Notifier: g.Notifications,
		Journal:  journal,
	},
		orderflow.WithName(name),
		orderflow.WithTimeout(cfg.Order.Timeout),
		orderflow.WithCompensationBudget(cfg.Order.CompensationBudget),
		orderflow.WithLeaseTTL(cfg.Order.LeaseTTL),
		orderflow.WithRecoveryInterval(cfg.Order.RecoveryInterval),
		orderflow.WithRetention(cfg.IdempotencyTTL),
		orderflow.WithLogger(logger),
		orderflow.WithObserver(metrics),
	)

	g.Server = httpserver.New(httpserver.Config{
		Name:            name,
		BodyLimit:       cfg.HTTP.BodyLimit,
		HeaderLimit:     cfg.HTTP.HeaderLimit,
		ReadTimeout:     cfg.HTTP.ReadTimeout,
		WriteTimeout:    cfg.HTTP.WriteTimeout,
		IdleTimeout:     cfg.HTTP.IdleTimeout,
		ShutdownTimeout: cfg.HTTP.ShutdownTimeout,
		HSTS:            cfg.HTTP.HSTS,
		ClientIPHeader:  cfg.RateLimit.ClientIPHeader,
	}, logger, metrics)
	g.Server.Health(g.checks()...)
	policy := func(name string, q config.Quota) ratelimit.Policy {
		return ratelimit.Policy{Name: name, Quota: q.Requests, Window: q.Window}
	}
	g.Limits = httpserver.Limits{
		Default: g.Server.RateLimit(g.RateLimits, policy("default", cfg.RateLimit.Default)),
		Login:   g.Server.RateLimit(g.RateLimits, policy("login", cfg.RateLimit.Login)),
		Orders:  g.Server.RateLimit(g.RateLimits, policy("orders", cfg.RateLimit.Orders)),
	}
	return g, nil
}

// openStores opens where checkouts and rate limits are kept: the state file
// and memory, or Redis.
func (g *Gateway) openStores(name string, cfg config.Base) (orderflow.Journal, error) {
	if cfg.RedisURL == "" {
		path := filepath.Join(cfg.StateDir, name+".db")
		st, err := boltstore.Open(path, boltstore.MaxRecords(cfg.IdempotencyMaxRecords))
		if err != nil {
			return nil, err
		}
		g.stateFile = st
		g.RateLimits = ratelimit.NewMemory(ratelimit.WithMaxKeys(cfg.RateLimit.MaxKeys))
		g.Logger.Info("checkout journal in the state file", "path", path)
		return st, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// go-redis's message may quote the URL, password and all.
		return nil, errors.New("REDIS_URL: not a Redis URL")
	}
	g.redis = redis.NewClient(opts)
	// Each BFF has keys of its own: its checkouts are its own (their ids
	// and replies differ from the other's), and so are its quotas.
	g.RateLimits = redisstore.NewRateLimit(g.redis, cfg.RedisKeyPrefix+"rl:"+name+":")
	g.Logger.Info("checkout journal and rate limits in redis", "addr", opts.Addr, "db", opts.DB)
	return redisstore.NewJournal(g.redis, cfg.RedisKeyPrefix+"saga:"+name+":"), nil
}

// Close releases what New opened, for a Gateway that will not Serve.
func (g *Gateway) Close() error {
	errs := []error{g.Flow.Close(context.Background())}
	if g.stateFile != nil {
		errs = append(errs, g.stateFile.Close())
	}
	if g.redis != nil {
		errs = append(errs, g.redis.Close())
	}
	return errors.Join(errs...)
}

// checks are the readiness probes: every upstream a request needs answers,
// the token keys are loaded and the shared store, if any, answers PING:
// without it every order would be refused with 503. The notification
// service is left out: it is best-effort, and its outage must not take
// every replica out of the load balancer.
func (g *Gateway) checks() []httpserver.Check {
	var checks []httpserver.Check
	for _, s := range g.services {
		if s.Name() == "notification" {
			continue
		}
		checks = append(checks, httpserver.Check{Name: s.Name(), Fn: s.Ping})
	}
	checks = append(checks, httpserver.Check{Name: "jwks", Fn: g.Verifier.Ready})
	if g.redis != nil {
		checks = append(checks, httpserver.Check{Name: "redis", Fn: func(ctx context.Context) error {
			return g.redis.Ping(ctx).Err()
		}})
	}
	return checks
}

// Serve serves until ctx ends, then drains requests and the notification
// queue, and closes the Redis client last, once no request can use it.
func (g *Gateway) Serve(ctx context.Context, addr string) error {
	if g.pprofAddr != "" {
		stop, err := servePprof(g.pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
		g.Logger.Info("pprof listening", "addr", g.pprofAddr)
	}
	// Recovery runs from the start: a saga this replica's previous
	// incarnation (or a dead peer) left is settled without waiting for a
	// retry. It stops once requests have drained; a saga it cannot finish
	// by then stays in the journal for the next replica.
	rctx, stopRecovery := context.WithCancel(context.WithoutCancel(ctx))
	recovered := make(chan struct{})
	go func() {
		defer close(recovered)
		g.Flow.RunRecovery(rctx)
	}()
	defer stopRecovery()
	// After recovery and the notification queue stop, nothing calls an
	// upstream any more: their idle connections are closed.
	hooks := []func(context.Context) error{func(ctx context.Context) error {
		stopRecovery()
		select {
		case <-recovered:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stop saga recovery: %w", ctx.Err())
		}
	}, g.Flow.Close, func(context.Context) error {
		for _, s := range g.services {
			s.Close()
		}
		return nil
	}}
	if g.stateFile != nil {
		// Closed last, whatever happened: a request still running past the
		// drain then fails its next journal write and leaves its saga to
		// recovery, and the file's lock is free for the next process.
		defer g.stateFile.Close()
	}
	if g.redis != nil {
		hooks = append(hooks, func(context.Context) error {
			if err := g.redis.Close(); err != nil {
				return fmt.Errorf("close redis client: %w", err)
			}
			return nil
		})
	}
	return g.Server.Serve(ctx, addr, hooks...)
}

// servePprof serves net/http/pprof's handlers on addr until stop is called.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}
