// Package gateway assembles what both BFFs serve from: the logger, the
// metrics, the five typed clients, the token verifier, the order flow, the
// checkout journal and the HTTP server with its shared middleware. A BFF
// adds only its routes and its views: it describes itself as a BFF, whose
// Run is the BFF's run, and its main calls Main. The checkout journal lives
// in a state file under Config.StateDir and rate-limit buckets in memory,
// or both in Redis when Config.RedisURL is set so that replicas share them.
package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/admission"
	"storefront.dev/shared/auth"
	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/catalog"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/session"
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
	// in Redis; Limits are the middleware a BFF mounts, one per policy,
	// each admitting the request under Admission first.
	RateLimits ratelimit.Store
	Limits     httpserver.Limits
	// Admission is the replica's one concurrency limit, shared by every
	// limited route.
	Admission *admission.Limiter
	// Catalog serves public catalog reads from memory in front of Products.
	Catalog *catalog.Cache
	// Sessions keeps web sessions where checkouts are kept: in the state
	// file, or in Redis.
	Sessions session.Store
	// Cursors seals every pagination cursor the BFF hands out.
	Cursors *cursor.Signer

	services []*upstream.Service
	tracing  *telemetry.Tracing
	// redis is the client of the shared store, nil without RedisURL.
	redis redis.UniversalClient
	// unsharedCursorKey is where in Redis the shared cursor key is, while
	// this replica does not have it (Redis did not answer at start).
	unsharedCursorKey string
	// stateFile is the checkout journal on disk, nil with RedisURL.
	stateFile *boltstore.Store
}

// New builds a Gateway named name from cfg; logs go to stdout as JSON.
func New(name string, cfg Config, stdout io.Writer) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{Logger: newLogger(name, cfg, stdout), Metrics: telemetry.NewMetrics()}
	if cfg.HTTP.ShutdownTimeout <= cfg.Order.Timeout {
		// A warning, not a refusal: a checkout the drain cuts is in the
		// journal, and recovery settles it and its key replays the outcome,
		// so a short drain is a choice where stops must be quick (tests,
		// the load benchmark); but its client gets an error it did not
		// need to.
		g.Logger.Warn("SHUTDOWN_TIMEOUT is not longer than ORDER_TIMEOUT: a checkout in flight when the process is stopped may be cut and left to saga recovery",
			"shutdown_timeout", cfg.HTTP.ShutdownTimeout.String(), "order_timeout", cfg.Order.Timeout.String())
	}
	g.warnOfDescriptors(cfg)
	tracing, err := telemetry.NewTracing(context.Background(), name, cfg.Tracing)
	if err != nil {
		return nil, err
	}
	g.tracing = tracing
	if err := g.newClients(cfg.Upstreams, cfg.Upstream); err != nil {
		return nil, g.abandon(err)
	}
	journal, err := g.openStores(name, cfg)
	if err != nil {
		return nil, g.abandon(err)
	}
	// After the stores, the last step that may fail: the verifier's token
	// cache runs a goroutine of its own.
	g.Verifier = auth.NewVerifier(g.Users, cfg.Auth)
	g.Cursors = g.cursorSigner(name, cfg)
	g.Catalog = catalog.New(g.Products, cfg.Cache, catalog.WithObserver(g.Metrics), catalog.WithCursors(g.Cursors))
	g.Flow = g.newFlow(name, cfg.Order, journal)
	g.Server = g.newServer(name, cfg.HTTP, cfg.RateLimit)
	g.Admission = admission.New(cfg.Admission)
	g.Metrics.WatchAdmission(g.Admission.Limit, g.Admission.InFlight)
	g.Limits = g.limits(cfg.RateLimit)
	g.Metrics.Preset(g.known(cfg.RateLimit))
	return g, nil
}

// abandonTimeout bounds the tracing shutdown of a Gateway that will not
// Serve.
const abandonTimeout = 5 * time.Second

// abandon releases what a failing New opened before its step that failed
// with err, and returns err.
func (g *Gateway) abandon(err error) error { return errors.Join(err, g.closeClients()) }

// closeClients stops the upstream clients (their DNS refresh) and the trace
// exporter, the first things New starts.
func (g *Gateway) closeClients() error {
	for _, s := range g.services {
		s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), abandonTimeout)
	defer cancel()
	return g.tracing.Shutdown(ctx)
}

// known are the label values of every series that exists from start-up.
func (g *Gateway) known(rl ratelimit.Config) telemetry.Known {
	k := telemetry.Known{
		UpstreamOutcomes:     upstream.Outcomes(),
		Caches:               catalog.Caches,
		RateLimitPolicies:    []string{rl.Default.Name, rl.Login.Name, rl.Orders.Name},
		OrderOutcomes:        orderflow.OrderOutcomes,
		NotificationOutcomes: orderflow.NotificationOutcomes,
		RecoveryOutcomes:     orderflow.RecoveryOutcomes,
		JournalOps:           orderflow.JournalOps,
		ShedClasses:          admission.Classes(),
	}
	for _, s := range g.services {
		k.Services = append(k.Services, s.Name())
	}
	return k
}

// newLogger logs JSON to stdout at cfg's level, each line naming the BFF
// and, when logged with a request's context, the request's id and trace id.
func newLogger(name string, cfg Config, stdout io.Writer) *slog.Logger {
	level, _ := cfg.level() // valid: New validated cfg
	h := slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})
	return slog.New(telemetry.LogHandler(h, httpserver.RequestID)).With("app", name)
}

// newClients builds a service for each upstream, with the request's ids in
// every call and its outcome in the metrics, and the typed client over it.
func (g *Gateway) newClients(urls Upstreams, cfg upstream.Config) error {
	for _, u := range urls.list() {
		s, err := upstream.NewService(u.name, u.urls, cfg, upstream.WithObserver(g.Metrics),
			upstream.WithHeaders(httpserver.PropagateHeaders), upstream.WithTracerProvider(g.tracing.Provider))
		if err != nil {
			return fmt.Errorf("%s upstream: %w", u.name, err)
		}
		g.services = append(g.services, s)
	}
	s := g.services // in the order of Upstreams.list
	g.Products, g.Orders, g.Payments = product.New(s[0]), order.New(s[1]), payment.New(s[2])
	g.Users, g.Notifications = user.New(s[3]), notification.New(s[4])
	return nil
}

// newFlow is the order flow over the clients and journal, named after the
// BFF so that its checkouts are its own.
func (g *Gateway) newFlow(name string, cfg orderflow.Config, journal orderflow.Journal) *orderflow.Flow {
	cfg.Name = name
	deps := orderflow.Deps{
		Catalog:  g.Products,
		Payments: g.Payments,
		Orders:   g.Orders,
		Profiles: g.Users,
		Notifier: g.Notifications,
		Journal:  journal,
	}
	return orderflow.New(deps, cfg, orderflow.WithLogger(g.Logger), orderflow.WithObserver(g.Metrics),
		orderflow.WithTracerProvider(g.tracing.Provider))
}

// newServer is the HTTP server with the shared middleware and the readiness
// checks.
func (g *Gateway) newServer(name string, cfg httpserver.Config, limits ratelimit.Config) *httpserver.Server {
	cfg.Name = name
	s := httpserver.New(cfg, g.Logger, g.Metrics, httpserver.WithTracerProvider(g.tracing.Provider),
		httpserver.WithLocalLimits(ratelimit.NewMemory(limits)))
	s.Health(g.checks()...)
	return s
}

// limits are the middleware of the limited routes, one per rate-limit
// policy over the buckets openStores chose, each behind admission control
// in its routes' class: order creation is a checkout, the other routes an
// authenticated read once RequireUser identified the caller, and login,
// the catalog and anything anonymous the lowest class (the catalog's
// admitted by Public, before its caller is identified).
func (g *Gateway) limits(cfg ratelimit.Config) httpserver.Limits {
	s, a := g.Server, g.Admission
	return httpserver.Limits{
		Default: s.Guard(a, httpserver.ClassOf(admission.Authenticated), g.RateLimits, cfg.Default),
		Public:  s.Admit(a, httpserver.Always(admission.Anonymous)),
		Catalog: s.RateLimit(g.RateLimits, cfg.Default),
		Login:   s.Guard(a, httpserver.ClassOf(admission.Anonymous), g.RateLimits, cfg.Login),
		Orders: s.GuardFirst(a, httpserver.ClassOf(admission.Checkout), g.RateLimits, cfg.Orders,
			httpserver.KeyedRetry(g.Flow.IsRetry)),
		Tokens:  s.Guard(a, httpserver.Always(admission.Authenticated), g.RateLimits, cfg.Login),
		Refused: s.Refused(g.RateLimits, cfg.Login),
	}
}

// openStores opens where checkouts, web sessions and rate limits are kept:
// the state file and memory, or Redis.
func (g *Gateway) openStores(name string, cfg Config) (orderflow.Journal, error) {
	if !cfg.sharedState() {
		path := filepath.Join(cfg.StateDir, name+".db")
		st, err := boltstore.Open(path, cfg.StateFile)
		if err != nil {
			return nil, err
		}
		g.stateFile = st
		g.Sessions = st
		g.RateLimits = ratelimit.NewMemory(cfg.RateLimit)
		g.Logger.Info("checkout journal in the state file", "path", path)
		return st, nil
	}
	client, what, err := cfg.redisClient()
	if err != nil {
		return nil, err
	}
	g.redis = client
	// go-redis has one logger for the process, which is this BFF.
	redis.SetLogger(redisLog{g.Logger})
	// Each BFF has keys of its own: its checkouts are its own (their ids
	// and replies differ from the other's), and so are its quotas.
	g.RateLimits = redisstore.NewRateLimit(g.redis, cfg.RedisKeyPrefix+"rl:"+name+":")
	g.Sessions = redisstore.NewSessions(g.redis, cfg.RedisKeyPrefix+"session:"+name+":")
	g.Logger.Info("checkout journal and rate limits in redis", "redis", what)
	return redisstore.NewJournal(g.redis, cfg.RedisKeyPrefix+"saga:"+name+":", redisstore.WithReplicas(cfg.RedisJournalReplicas)), nil
}

// Close releases what New opened, for a Gateway that will not Serve.
func (g *Gateway) Close() error {
	// The flow first: it calls upstream, and traces, until it is closed.
	errs := []error{g.Flow.Close(context.Background()), g.closeClients()}
	g.Catalog.Close()
	if g.stateFile != nil {
		errs = append(errs, g.stateFile.Close())
	}
	if g.redis != nil {
		errs = append(errs, g.redis.Close())
	}
	return errors.Join(errs...)
}

// checks are what /readyz looks at: the token keys, without which this
// replica can serve no signed-in request (required), and, reported as
// degraded, every upstream a request needs and the shared store, if any:
// their outage is every replica's, and taking them all out of the load
// balancer would turn degraded views and refused checkouts into nothing
// served at all. The notification service, best-effort, is left out.
func (g *Gateway) checks() []httpserver.Check {
	var checks []httpserver.Check
	for _, s := range g.services {
		if s.Name() == "notification" {
			continue
		}
		checks = append(checks, httpserver.Check{Name: s.Name(), Fn: s.Ping})
	}
	checks = append(checks, httpserver.Check{Name: "jwks", Fn: g.Verifier.Ready, Required: true})
	if g.redis != nil {
		checks = append(checks, httpserver.Check{Name: "redis", Fn: func(ctx context.Context) error {
			return g.redis.Ping(ctx).Err()
		}})
	}
	return checks
}

// Listeners are a BFF's two bound listeners: the public one and the admin
// one.
type Listeners struct {
	Public, Admin net.Listener
}

// Listen binds the admin address, then the public one, so that a BFF
// fails on an address it cannot have before it opens its state or starts
// saga recovery.
func Listen(public, admin string) (Listeners, error) {
	a, err := httpserver.Listen(admin)
	if err != nil {
		return Listeners{}, fmt.Errorf("admin %w", err)
	}
	p, err := httpserver.Listen(public)
	if err != nil {
		a.Close()
		return Listeners{}, err
	}
	return Listeners{Public: p, Admin: a}, nil
}

// Close closes both listeners, for a caller that will not serve them.
func (ls Listeners) Close() error { return errors.Join(ls.Public.Close(), ls.Admin.Close()) }

// ServeListeners serves until ctx ends, then drains requests and the
// notification queue, and closes the Redis client last, once no request can
// use it. A state file that fails to commit ends it too, with its error: the
// process is to exit, so that a new one reopens the file (see boltstore's
// fail). It closes the listeners.
func (g *Gateway) ServeListeners(ctx context.Context, ls Listeners) error {
	var failed <-chan struct{} // nil, never ready, without a state file
	if g.stateFile != nil {
		// Deferred first, so closed last, whatever happened: a request
		// still running past the drain then fails its next journal write
		// and leaves its saga to recovery, and the file's lock is free for
		// the next process.
		defer g.stateFile.Close()
		failed = g.stateFile.Failed()
	}
	stopAdmin := g.Server.ServeAdmin(ls.Admin)
	defer stopAdmin()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-failed:
			g.Logger.Error("the state file failed; stopping so that a new process reopens it",
				"err", g.stateFile.Failure())
			stop()
		case <-ctx.Done():
		}
	}()
	cancelRecovery, stopRecovery := g.startRecovery(ctx)
	defer cancelRecovery()
	go g.shareCursorKey(ctx)
	if g.redis != nil {
		go warnOfEviction(ctx, g.redis, g.Logger)
	}
	err := g.Server.ServeListener(ctx, ls.Public, g.shutdownHooks(stopRecovery)...)
	if g.stateFile != nil {
		err = errors.Join(err, g.stateFile.Failure())
	}
	return err
}

// startRecovery runs saga recovery from the start: a saga this replica's
// previous incarnation (or a dead peer) left is settled without waiting for
// a retry. cancel stops recovery; stop, a shutdown hook, also waits for it
// until its context ends. A saga recovery cannot finish by then stays in
// the journal for the next replica.
func (g *Gateway) startRecovery(ctx context.Context) (cancel context.CancelFunc, stop func(context.Context) error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	recovered := make(chan struct{})
	go func() {
		defer close(recovered)
		g.Flow.RunRecovery(rctx)
	}()
	return cancel, func(ctx context.Context) error {
		cancel()
		select {
		case <-recovered:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stop saga recovery: %w", ctx.Err())
		}
	}
}

// shutdownHooks run once requests have drained: recovery stops, then the
// notification queue; after them nothing calls an upstream any more, so
// the catalog's idle workers end and the upstreams' idle connections are
// closed, and the Redis client last.
func (g *Gateway) shutdownHooks(stopRecovery func(context.Context) error) []func(context.Context) error {
	hooks := []func(context.Context) error{stopRecovery, g.Flow.Close, func(context.Context) error {
		g.Catalog.Close()
		for _, s := range g.services {
			s.Close()
		}
		return nil
	}, g.tracing.Shutdown}
	if g.redis != nil {
		hooks = append(hooks, func(context.Context) error {
			if err := g.redis.Close(); err != nil {
				return fmt.Errorf("close redis client: %w", err)
			}
			return nil
		})
	}
	return hooks
}

// cursorSigner is the signer of the key CursorKey names (valid: New
// validated it); without one, of a key shared in Redis, created by the
// first replica to start; without Redis, of a key of this process's own.
// When Redis does not answer, the key is this process's own until it does
// (see shareCursorKey).
func (g *Gateway) cursorSigner(name string, cfg Config) *cursor.Signer {
	key, _ := decodeKey(cfg.CursorKey)
	if len(key) == 0 && g.redis != nil {
		k := cfg.RedisKeyPrefix + "cursor-key:" + name
		var err error
		key, err = g.sharedCursorKey(context.Background(), k)
		switch {
		case errors.Is(err, errNotAKey):
			// Asking again would find the same: an operator must mend it.
			g.Logger.Error("cursor key not shared: the one in redis is not a key; cursors hold on this replica only", "err", err)
		case err != nil:
			g.Logger.Warn("cursor key not shared yet: redis did not answer; cursors hold on this replica only until it does", "err", err)
			g.unsharedCursorKey = k
		}
	}
	if len(key) < cursor.KeyBytes {
		key = cursor.NewKey()
	}
	s, _ := cursor.New(key) // at least KeyBytes long
	return s
}

// sharedCursorKey returns the cursor key stored at k in Redis, storing a
// new one there first if there is none.
func (g *Gateway) sharedCursorKey(ctx context.Context, k string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fresh := base64.RawURLEncoding.EncodeToString(cursor.NewKey())
	if err := g.redis.SetNX(ctx, k, fresh, 0).Err(); err != nil {
		return nil, err
	}
	shared, err := g.redis.Get(ctx, k).Result()
	if err != nil {
		return nil, err
	}
	key, err := decodeKey(shared)
	if err != nil || len(key) < cursor.KeyBytes {
		return nil, fmt.Errorf("%w: %s holds no key of %d bytes or more", errNotAKey, k, cursor.KeyBytes)
	}
	return key, nil
}

// errNotAKey is sharedCursorKey's error when Redis answered with something
// that is not a cursor key.
var errNotAKey = errors.New("the cursor key in redis is not a key")

// cursorKeyRetry is how often a replica that started while Redis did not
// answer asks it for the shared cursor key again.
const cursorKeyRetry = 2 * time.Second

// shareCursorKey, for a replica that started while Redis did not answer,
// asks for the shared cursor key every cursorKeyRetry until it has it, or
// ctx ends, and seals cursors with it from then on: its cursors then hold
// on every replica (those it handed out before still open here).
func (g *Gateway) shareCursorKey(ctx context.Context) {
	if g.unsharedCursorKey == "" {
		return
	}
	t := time.NewTicker(cursorKeyRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		key, err := g.sharedCursorKey(ctx, g.unsharedCursorKey)
		if errors.Is(err, errNotAKey) {
			g.Logger.Error("cursor key not shared: the one in redis is not a key; cursors hold on this replica only", "err", err)
			return
		}
		if err == nil {
			_ = g.Cursors.SetKey(key) // checked by sharedCursorKey
			g.Logger.Info("cursor key shared: redis answers again")
			return
		}
	}
}
