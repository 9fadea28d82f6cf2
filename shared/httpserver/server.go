// Package httpserver is the Fiber edge both BFFs share: the app with
// goccy/go-json, the middleware every request passes (request id, panic
// recovery, security headers, a server span, the access log and metrics;
// the metrics and profiles on an admin listener of their own), admission control
// and rate limits per route, problem+json errors, health endpoints, and a
// graceful Serve.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/telemetry"
)

// Config is the server's limits against large and slow clients;
// DefaultConfig returns every default.
type Config struct {
	// Name is the application name used in logs ("bff-web"). Default empty.
	Name string
	// BodyLimit is the largest request body accepted, in bytes; larger
	// bodies are refused with 413. At most MaxBodyLimit. Default 65536.
	BodyLimit int
	// HeaderLimit bounds the request line and headers together, in bytes:
	// it is the read buffer fasthttp gives each connection being read. At
	// least 2048 and at most MaxHeaderLimit. Default 8192.
	HeaderLimit int
	// ReadTimeout bounds reading one request. Default 5s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 15s.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection. Default 60s.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once: each holds a
	// goroutine and, while a request is read or answered, its buffers
	// (HeaderLimit to read, 4 KiB to write). One more is answered at once
	// with the 503 overloaded problem a shed request gets, and closed, so
	// that a flood of connections cannot grow memory without bound.
	// At most MaxMaxConns. Default 4096.
	MaxConns int
	// ShutdownTimeout bounds the graceful drain of in-flight requests on
	// SIGTERM; the shutdown hooks (queued notifications) then get what is
	// left of it, and at least ShutdownHookBudget. Default 15s.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long, on SIGTERM, the server goes on taking
	// requests with /readyz answering 503 before the drain begins, so that
	// load balancers stop sending to it first. Default 0: Kubernetes holds
	// SIGTERM back with the pod's preStop sleep instead.
	ShutdownDelay time.Duration
	// HSTS sends Strict-Transport-Security; turn it on behind TLS. Default
	// false.
	HSTS bool
	// ClientIPHeader names a header set by a trusted reverse proxy
	// ("X-Forwarded-For", "X-Real-IP") whose last address is the client's,
	// for rate limits keyed by address. Default none: the connection's peer
	// address, because any client can send such a header to a BFF reachable
	// directly.
	ClientIPHeader string
}

// DefaultConfig returns the defaults of every setting of a Server.
func DefaultConfig() Config {
	return Config{
		BodyLimit:       64 << 10,
		HeaderLimit:     8 << 10,
		ReadTimeout:     5 * time.Second,
		WriteTimeout:    15 * time.Second,
		IdleTimeout:     60 * time.Second,
		MaxConns:        4096,
		ShutdownTimeout: 15 * time.Second,
	}
}

// minHeaderLimit is the smallest HeaderLimit: a browser's request line and
// headers, cookies and a bearer token included, take a couple of KiB.
const minHeaderLimit = 2 << 10

// ShutdownHookBudget is the least time Serve's shutdown hooks get once the
// drain has ended, whatever the drain left of ShutdownTimeout: 5s. A drain
// that ran to its deadline, a checkout still in flight, would otherwise
// leave them nothing, and the hooks are what settles the work in hand:
// stopping saga recovery waits for its step in flight (one upstream call,
// 2s by default), the checkouts that just drained write their completion
// records and queued notifications are sent (2s an attempt), traces are
// flushed. A process may so take ShutdownDelay, ShutdownTimeout and 5s to
// stop: its supervisor's grace period must cover the sum.
const ShutdownHookBudget = 5 * time.Second

// The ceilings of the limits: a value beyond one is a typo, and each limit
// is memory the server commits to its clients.
const (
	// MaxHeaderLimit is the largest HeaderLimit, 64 KiB. fasthttp reads
	// every connection through a buffer of HeaderLimit bytes, so the
	// limit is paid per connection, not per large request: at the default
	// MaxConns, 64 KiB is already 256 MiB of buffers, and 1 TiB would end
	// the process on its first connection. No request needs more: the
	// proxies in front of a BFF forward less (nginx 32 KiB, Envoy 60 KiB),
	// and the largest header a BFF reads, a token, is AUTH_MAX_TOKEN_BYTES.
	MaxHeaderLimit = 64 << 10
	// MaxBodyLimit is the largest BodyLimit, 1 MiB: a body is held whole in
	// memory while its request runs, one per connection, and no request of
	// either API comes near it (an order of 50 lines is about 3 KiB).
	MaxBodyLimit = 1 << 20
	// MaxMaxConns is the largest MaxConns, 1048576 (2^20): Linux's default
	// ceiling on a process's open files (fs.nr_open), past which no more
	// connections can be open anyway; each holds a goroutine of at least
	// 8 KiB, 8 GiB at the ceiling.
	MaxMaxConns = 1 << 20
)

// Validate reports the settings a Server cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.BodyLimit <= 0 || c.BodyLimit > MaxBodyLimit {
		errs = append(errs, fmt.Errorf("httpserver: BodyLimit %d must be positive and at most %d", c.BodyLimit, MaxBodyLimit))
	}
	if c.HeaderLimit < minHeaderLimit || c.HeaderLimit > MaxHeaderLimit {
		// Below it, a probe or a browser's ordinary request is a 431.
		errs = append(errs, fmt.Errorf("httpserver: HeaderLimit %d must be at least %d and at most %d", c.HeaderLimit, minHeaderLimit, MaxHeaderLimit))
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("httpserver: ReadTimeout, WriteTimeout, IdleTimeout and ShutdownTimeout must be positive"))
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("httpserver: ShutdownDelay %v must not be negative", c.ShutdownDelay))
	}
	if c.MaxConns <= 0 || c.MaxConns > MaxMaxConns {
		errs = append(errs, fmt.Errorf("httpserver: MaxConns %d must be positive and at most %d", c.MaxConns, MaxMaxConns))
	}
	if strings.ContainsFunc(c.ClientIPHeader, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		errs = append(errs, fmt.Errorf("httpserver: ClientIPHeader %q is not a header name", c.ClientIPHeader))
	}
	return errors.Join(errs...)
}

// Server is a Fiber app with the shared middleware installed.
type Server struct {
	// App is where the BFF adds its routes.
	App     *fiber.App
	cfg     Config
	logger  *slog.Logger
	metrics *telemetry.Metrics
	tracer  trace.Tracer
	// draining is set on SIGTERM: /readyz answers 503 from then on.
	draining atomic.Bool
	// ready runs the checks of /readyz; nil until Health is called.
	ready atomic.Pointer[readiness]
	// born is when the server was made: limitsRestUntil counts from it,
	// on the monotonic clock.
	born time.Time
	// limitsRestUntil is when the shared rate-limit store's rest after a
	// failure ends, as time since born; 0 while it does not rest (see
	// take). localLimits meters requests meanwhile.
	limitsRestUntil atomic.Int64
	localLimits     *ratelimit.Memory
	// sheds thins the log lines of shed requests (see observe).
	sheds shedLines
	// refusalHeaders, when set, adds header fields to the answers refused
	// before the routes' middleware ran (see RefusalHeaders).
	refusalHeaders func(c *fiber.Ctx)
}

// RefusalHeaders makes set add header fields to every answer refused
// before the routes' own middleware ran: a request too large, too slow or
// not well-formed, an unknown method, a body sent with a content coding.
// bff-web grants its SPA's origin there as its routes do, so that a
// browser hands the SPA the problem rather than a CORS failure. Call it
// before Serve.
func (s *Server) RefusalHeaders(set func(c *fiber.Ctx)) { s.refusalHeaders = set }

// Option gives a Server a collaborator.
type Option func(*Server)

// WithLocalLimits makes m the buckets that meter requests while the shared
// rate-limit store fails (see RateLimit). Default a ratelimit.Memory of
// ratelimit.DefaultConfig.
func WithLocalLimits(m *ratelimit.Memory) Option {
	return func(s *Server) { s.localLimits = m }
}

// WithTracerProvider makes the server span of every request with tp's
// tracer. Default none: a caller's trace context is passed on, no span is
// made.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Server) { s.tracer = tp.Tracer(instrumentation) }
}

// New returns a Server whose app already carries the shared middleware, with the settings cfg (start from DefaultConfig). It
// panics when cfg does not validate, a wiring mistake: the BFF validates its
// settings before it starts.
func New(cfg Config, logger *slog.Logger, metrics *telemetry.Metrics, opts ...Option) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &Server{cfg: cfg, logger: logger, metrics: metrics, tracer: noop.NewTracerProvider().Tracer(instrumentation),
		born: time.Now(), localLimits: ratelimit.NewMemory(ratelimit.DefaultConfig())}
	for _, o := range opts {
		o(s)
	}
	s.App = fiber.New(fiber.Config{
		AppName:               cfg.Name,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
		BodyLimit:             cfg.BodyLimit,
		ReadBufferSize:        cfg.HeaderLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Routes are matched exactly: /api/orders/ is not /api/orders.
		StrictRouting: true,
		CaseSensitive: true,
		// Memory that returns after a spike: at most MaxConns connections
		// (Serve's listener refuses the others; fasthttp's own bound is
		// set a little higher so that a connection handed over just as
		// another closes never meets it), and an idle keep-alive
		// connection gives its read and write buffers back to the pools
		// (which the GC empties) instead of holding them until it closes.
		Concurrency:       cfg.MaxConns + maxRefusing,
		ReduceMemoryUsage: true,
		// No route takes a form: a multipart body is read as the bytes it
		// is, and refused where a body is not JSON (415), rather than
		// parsed before routing, where one that does not parse would be a
		// 400 "not well-formed HTTP" on any path.
		DisablePreParseMultipartForm: true,
	})
	// A connection's goroutine, once it closed, exits soon, so that a
	// spike's stacks can be returned (see returnMemory).
	s.App.Server().MaxIdleWorkerDuration = idleWorker
	s.refuseUnknownMethods()
	s.App.Use(requestID, s.observe, securityHeaders(cfg.HSTS), s.recoverPanic)
	s.App.Use(identityBodies) // before any handler reads a body
	return s
}

// refuseUnknownMethods answers a request whose method is none Fiber
// routes (FOO, a lower-case get) with the fixed 501 problem, its request
// id and headers, counted and logged as a request refused while read:
// Fiber itself answers one in plain text before any middleware runs.
func (s *Server) refuseUnknownMethods() {
	srv := s.App.Server()
	next := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if knownMethod(ctx.Method()) {
			next(ctx)
			return
		}
		c := s.App.AcquireCtx(ctx)
		defer s.App.ReleaseCtx(c)
		_ = s.handleError(c, fiber.NewError(fiber.StatusNotImplemented))
	}
}

// knownMethod reports whether method is one Fiber routes, without
// allocating.
func knownMethod(method []byte) bool {
	for _, m := range fiber.DefaultMethods {
		if string(method) == m {
			return true
		}
	}
	return false
}

// Listen binds addr, for ServeListener or ServeAdmin: a caller binds its
// listeners before it starts anything that a failed bind would leave
// behind.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// ServeListener logs ln's address (so a caller that asked for port 0 can
// find it) and serves on ln until ctx ends or serving fails; then it stops
// accepting, drains in-flight requests within the shutdown timeout, runs
// each onShutdown hook (draining background queues), closes ln and
// returns. Meanwhile, once a spike of connections has passed, it gives the
// memory the spike took back to the operating system.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, onShutdown ...func(context.Context) error) error {
	s.logger.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	limited := limitConns(ln, s.cfg.MaxConns, s.cfg.HSTS, s.metrics)
	limited.onAcceptWait = s.logAcceptWait
	s.App.Server().ConnState = limited.connState
	go func() { errc <- s.App.Listener(limited) }()
	defer limited.Close() // when fasthttp failed, or never took it
	mctx, stopMemory := context.WithCancel(ctx)
	defer stopMemory()
	go returnMemory(mctx, memoryCheck, runtime.NumGoroutine, debug.FreeOSMemory)
	// served is fasthttp's end, once it came: serving that failed still
	// drains what is in flight and runs the hooks, as a stop does.
	var served error
	select {
	case served = <-errc:
		served = fmt.Errorf("serve: %w", served)
	case <-ctx.Done():
		served = s.delayShutdown(errc)
	}
	errs := s.drain(ctx, limited, onShutdown)
	if served == nil {
		if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
			served = fmt.Errorf("serve: %w", err)
		}
	}
	return errors.Join(append([]error{served}, errs...)...)
}

// delayShutdown marks the server draining, so that readiness fails, and
// keeps serving for ShutdownDelay, while load balancers take the replica
// out. It returns serving's error should serving end meanwhile.
func (s *Server) delayShutdown(errc <-chan error) error {
	s.draining.Store(true)
	s.logger.Info("shutting down", "delay", s.cfg.ShutdownDelay.String(), "timeout", s.cfg.ShutdownTimeout.String())
	if s.cfg.ShutdownDelay <= 0 {
		return nil
	}
	select {
	case <-time.After(s.cfg.ShutdownDelay):
		return nil
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
}

// drain stops serving, waits for the requests in flight within the
// shutdown timeout, closes the listener and runs each hook, with at least
// ShutdownHookBudget for them all.
func (s *Server) drain(ctx context.Context, limited net.Listener, onShutdown []func(context.Context) error) []error {
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.App.ShutdownWithContext(sctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	// A stop that came before fasthttp took the listener (a SIGTERM just
	// after the start) finds nothing to shut down, and fasthttp then
	// serves it for good: closing it ends that serving too.
	_ = limited.Close()
	hctx := sctx
	if deadline, _ := sctx.Deadline(); time.Until(deadline) < ShutdownHookBudget {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), ShutdownHookBudget)
		defer cancel()
	}
	for _, hook := range onShutdown {
		if err := hook(hctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// logAcceptWait logs a wait of Accept out of file descriptors: the first
// of a run, then each at the longest wait, about one a second.
func (s *Server) logAcceptWait(err error, wait time.Duration) {
	if wait == acceptRetryFirst || wait == acceptRetryMax {
		s.logger.Warn("accepting connections failed; retrying", "error", err.Error(), "wait", wait.String(),
			"max_conns", s.cfg.MaxConns)
	}
}

// CheckAddr reports why addr is not a listen address, or nil: host:port,
// the host empty (every interface), an IP address or a host name, the port
// a number from 0 (any free port) to 65535.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, such as :8080 or 127.0.0.1:9180")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil && strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// Collide reports whether listen addresses a and b, both valid, cannot be
// bound at once: the same port, not 0, on the same host or where either
// host is every interface.
func Collide(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	if every(ha) || every(hb) || strings.EqualFold(ha, hb) {
		return true
	}
	ia, ea := netip.ParseAddr(ha)
	ib, eb := netip.ParseAddr(hb)
	return ea == nil && eb == nil && ia.Unmap() == ib.Unmap()
}

// every reports whether host names every interface.
func every(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "" || err == nil && ip.IsUnspecified()
}
