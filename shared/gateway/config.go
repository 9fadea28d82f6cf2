package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
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
	"storefront.dev/shared/telemetry"
	"storefront.dev/shared/upstream"
)

// Config is every setting a Gateway is built from: its own, and the Config
// of each package it wires, which states that package's defaults.
// DefaultConfig returns every default; package config fills a Config from
// the environment.
type Config struct {
	// LogLevel is the least level logged: debug, info (a line per request,
	// the access log), warn (no access log) or error. Default info.
	LogLevel string
	// Upstreams are the instances of the five services.
	Upstreams Upstreams
	// Upstream is the settings of every service's client: call timeout,
	// retries, circuit breaker.
	Upstream upstream.Config
	// HTTP bounds what a client may send and how long it may take.
	HTTP httpserver.Config
	// Admission is the adaptive concurrency limit that sheds what the
	// replica cannot serve in time, lowest class first.
	Admission admission.Config
	// Auth says which tokens are accepted.
	Auth auth.Config
	// Order tunes the checkout saga; its Name is the BFF's, whatever is
	// set here.
	Order orderflow.Config
	// Cache tunes the catalog cache.
	Cache catalog.Config
	// RateLimit are the per-caller request quotas.
	RateLimit ratelimit.Config
	// StateFile bounds the state file; without effect with Redis (RedisURL
	// or RedisAddrs).
	StateFile boltstore.Config
	// StateDir is the directory of the state file that keeps checkouts
	// (their saga journal, which is also their idempotency record) across
	// restarts without Redis (RedisURL or RedisAddrs):
	// <StateDir>/<bff name>.db. It must survive the process (a volume on
	// Kubernetes), and only one process may use it at a time. Default
	// ./data.
	StateDir string
	// RedisURL (redis://[user:password@]host:port[/db], or rediss:// for
	// TLS), when set, keeps the checkout journal and rate-limit buckets in
	// that Redis, shared by every replica, instead of in the state file and
	// in each replica's memory. Required with more than one replica. Default
	// empty.
	RedisURL string
	// RedisAddrs, instead of RedisURL, are the host:port of several Redis
	// nodes: the Sentinels of a replicated Redis when RedisMasterName is
	// set (the client follows the master across failovers), otherwise the
	// seed nodes of a Redis Cluster. Default none.
	RedisAddrs []string
	// RedisMasterName is the master's name the Sentinels of RedisAddrs
	// watch. Default none.
	RedisMasterName string
	// RedisPassword authenticates to the Redis nodes of RedisAddrs. It is
	// refused with RedisURL, which holds its own: one of the two would be
	// ignored. Default none.
	RedisPassword string
	// RedisJournalReplicas is how many replicas of the Redis master must
	// hold each checkout journal write before it counts (Redis WAIT, at
	// most a second): with 1 or more, a failover that promotes a replica
	// cannot lose a checkout the master had acknowledged, and a checkout is
	// refused (503) while fewer replicas answer. At most the replicas the
	// master has. Default 0: a write counts once the master has it.
	RedisJournalReplicas int
	// RedisSentinelPassword authenticates to the Sentinels of RedisAddrs,
	// when they ask for a password of their own (requirepass in
	// sentinel.conf); RedisPassword is the master's. Default none.
	RedisSentinelPassword string
	// CursorKey is the key, base64 (standard or URL alphabet) of at least
	// 32 bytes, that authenticates the pagination cursors a BFF hands out;
	// every replica must share it. Default none: with Redis, a random key
	// kept there and shared by every replica; without, a random key of the
	// process's own (cursors then end with it).
	CursorKey string
	// RedisKeyPrefix is put before every key the BFF writes to Redis, so
	// that one Redis can serve several environments. Default "sf:".
	RedisKeyPrefix string
	// ViewTimeout is the deadline of one screen read (GET of products, a
	// profile, an order page), all its upstream calls included. Default 3s.
	ViewTimeout time.Duration
	// AdminAddr is where the admin listener serves GET /metrics and Go's
	// profiles under /debug/pprof/, never on the public port. Keep it off
	// the public network: a loopback address, or a port no Ingress routes.
	// Default 127.0.0.1:9180, bff-web's; bff-mobile's defaultConfig states
	// its own, so that both run on one host.
	AdminAddr string
	// Tracing is the OpenTelemetry tracing, from the standard OTEL_*
	// variables.
	Tracing telemetry.TracingConfig
}

// Upstreams are the base URLs of each service's instances; each list is
// balanced (see upstream.Service). The defaults are the sandbox's addresses.
type Upstreams struct {
	// Product defaults to http://127.0.0.1:8001.
	Product []string
	// Order defaults to http://127.0.0.1:8002.
	Order []string
	// Payment defaults to http://127.0.0.1:8003.
	Payment []string
	// User defaults to http://127.0.0.1:8004.
	User []string
	// Notification defaults to http://127.0.0.1:8005.
	Notification []string
}

// DefaultConfig returns every default: the gateway's own and each package's
// DefaultConfig.
func DefaultConfig() Config {
	return Config{
		LogLevel: "info",
		Upstreams: Upstreams{
			Product:      []string{"http://127.0.0.1:8001"},
			Order:        []string{"http://127.0.0.1:8002"},
			Payment:      []string{"http://127.0.0.1:8003"},
			User:         []string{"http://127.0.0.1:8004"},
			Notification: []string{"http://127.0.0.1:8005"},
		},
		Upstream:       upstream.DefaultConfig(),
		HTTP:           httpserver.DefaultConfig(),
		Admission:      admission.DefaultConfig(),
		Auth:           auth.DefaultConfig(),
		Order:          orderflow.DefaultConfig(),
		Cache:          catalog.DefaultConfig(),
		RateLimit:      ratelimit.DefaultConfig(),
		StateFile:      boltstore.DefaultConfig(),
		StateDir:       "./data",
		RedisKeyPrefix: "sf:",
		ViewTimeout:    3 * time.Second,
		Tracing:        telemetry.DefaultTracingConfig(),
		AdminAddr:      "127.0.0.1:9180",
	}
}

// Validate reports every setting that cannot work: each package's own, and
// those that only make sense together.
func (c Config) Validate() error {
	errs := []error{c.Upstreams.validate(), c.Upstream.Validate(), c.HTTP.Validate(), c.Auth.Validate(),
		c.Order.Validate(), c.Cache.Validate(), c.RateLimit.Validate(), c.StateFile.Validate(), c.Admission.Validate(),
		c.Tracing.Validate()}
	if err := httpserver.CheckAddr(c.AdminAddr); err != nil {
		errs = append(errs, fmt.Errorf("gateway: AdminAddr %q: %w", c.AdminAddr, err))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	if c.ViewTimeout <= 0 {
		errs = append(errs, fmt.Errorf("gateway: ViewTimeout %v must be positive", c.ViewTimeout))
	}
	if !c.sharedState() && c.StateDir == "" {
		errs = append(errs, errors.New("gateway: StateDir must be set when RedisURL is not"))
	}
	if c.RedisURL != "" && len(c.RedisAddrs) > 0 {
		errs = append(errs, errors.New("gateway: set RedisURL or RedisAddrs, not both"))
	}
	if c.CursorKey != "" {
		if k, err := decodeKey(c.CursorKey); err != nil || len(k) < cursor.KeyBytes {
			errs = append(errs, fmt.Errorf("gateway: CursorKey: want base64 of at least %d bytes", cursor.KeyBytes))
		}
	}
	if emptyHashTag(c.RedisKeyPrefix) {
		errs = append(errs, fmt.Errorf("gateway: RedisKeyPrefix %q holds an empty hash tag {}, which would scatter a journal's keys over a Redis Cluster's slots", c.RedisKeyPrefix))
	}
	if c.RedisMasterName != "" && len(c.RedisAddrs) == 0 {
		errs = append(errs, errors.New("gateway: RedisMasterName needs the Sentinels' RedisAddrs"))
	}
	if c.RedisJournalReplicas < 0 || c.RedisJournalReplicas > 0 && !c.sharedState() {
		errs = append(errs, errors.New("gateway: RedisJournalReplicas must be 0, or more with Redis set"))
	}
	if c.RedisPassword != "" && c.RedisURL != "" {
		errs = append(errs, errors.New("gateway: RedisPassword is for the nodes of RedisAddrs; a RedisURL holds its own (redis://:password@host:port)"))
	}
	if c.RedisSentinelPassword != "" && c.RedisMasterName == "" {
		errs = append(errs, errors.New("gateway: RedisSentinelPassword needs RedisMasterName and the Sentinels' RedisAddrs"))
	}
	if c.RedisURL != "" {
		// The URL may hold a password: the error must not quote it.
		if u, err := url.Parse(c.RedisURL); err != nil || u.Host == "" && u.Scheme != "unix" ||
			u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
			errs = append(errs, errors.New("gateway: RedisURL: want redis://host:port, rediss://host:port or unix:///path"))
		} else if _, err := redis.ParseURL(c.RedisURL); err != nil {
			// What the client would refuse at start (a database that is no
			// number, an unknown option), said here, where the variable is
			// named; go-redis's message may quote the URL, password and all.
			errs = append(errs, errors.New("gateway: RedisURL: not a URL the Redis client takes (redis://[user:password@]host:port[/db])"))
		}
	}
	for _, a := range c.RedisAddrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("gateway: RedisAddrs: %q: want host:port", a))
		}
	}
	if c.Order.CompensationBudget <= c.Upstream.Breaker.OpenTimeout {
		// An undo (a refund, a void) must outlast an open breaker, or a
		// burst of failures could leave money held with no order.
		errs = append(errs, fmt.Errorf("gateway: Order.CompensationBudget %v must be longer than Upstream.Breaker.OpenTimeout %v",
			c.Order.CompensationBudget, c.Upstream.Breaker.OpenTimeout))
	}
	return errors.Join(errs...)
}

// emptyHashTag reports whether the first "{" of prefix is followed at
// once by "}": Redis Cluster then hashes the whole key, so a prefix's own
// hash tag cannot keep one journal's keys in one slot.
func emptyHashTag(prefix string) bool {
	i := strings.IndexByte(prefix, '{')
	return i >= 0 && strings.HasPrefix(prefix[i:], "{}")
}

// level parses LogLevel.
func (c Config) level() (slog.Level, error) {
	// Only the four names: slog's parser also takes offsets ("info+2").
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("gateway: LogLevel %q: want debug, info, warn or error", c.LogLevel)
}

func (u Upstreams) validate() error {
	var errs []error
	for _, s := range u.list() {
		if len(s.urls) == 0 {
			errs = append(errs, fmt.Errorf("gateway: no %s upstream URL", s.name))
		}
	}
	return errors.Join(errs...)
}

// service is one upstream service's name and instances.
type service struct {
	name string
	urls []string
}

// list returns the services in the order New builds their clients.
func (u Upstreams) list() []service {
	return []service{{"product", u.Product}, {"order", u.Order}, {"payment", u.Payment}, {"user", u.User}, {"notification", u.Notification}}
}

// decodeKey reads a base64 key in either alphabet, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
