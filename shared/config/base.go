package config

import "storefront.dev/shared/gateway"

// Base is the settings both BFFs share: the gateway's Config, which holds
// the Config of each package the gateway wires. Those types state every
// field's meaning and default (gateway.DefaultConfig); this package only
// names the variable that sets each field. Base is an alias so that a BFF's
// Config embeds it under the name Base.
type Base = gateway.Config

// LoadBase sets each field of b whose variable is set. With the BFFs' own
// loadConfig, it is the one place a variable is named.
func LoadBase(l *Loader, b *Base) {
	l.String(&b.LogLevel, "LOG_LEVEL")
	loadUpstreams(l, b)
	loadHTTP(l, b)
	loadAuth(l, b)
	loadOrder(l, b)
	loadStores(l, b)
	loadCache(l, b)
	loadRateLimit(l, b)
	loadAdmission(l, b)
	l.Duration(&b.ViewTimeout, "VIEW_TIMEOUT")
	l.Addr(&b.AdminAddr, "ADMIN_ADDR")
	loadTracing(l, b)
}

// loadTracing reads the OpenTelemetry SDK's standard variables.
func loadTracing(l *Loader, b *Base) {
	t := &b.Tracing
	// An endpoint may hold a password in its user part.
	l.Secret(&t.Endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")
	l.Secret(&t.TracesEndpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	l.String(&t.Protocol, "OTEL_EXPORTER_OTLP_PROTOCOL")
	l.String(&t.TracesProtocol, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	l.String(&t.Sampler, "OTEL_TRACES_SAMPLER")
	l.String(&t.SamplerArg, "OTEL_TRACES_SAMPLER_ARG")
	l.String(&t.ServiceName, "OTEL_SERVICE_NAME")
	l.String(&t.ResourceAttributes, "OTEL_RESOURCE_ATTRIBUTES")
	l.Bool(&t.Disabled, "OTEL_SDK_DISABLED")
	l.String(&t.Exporter, "OTEL_TRACES_EXPORTER")
}

func loadUpstreams(l *Loader, b *Base) {
	l.URLs(&b.Upstreams.Product, "UPSTREAM_PRODUCT_URLS")
	l.URLs(&b.Upstreams.Order, "UPSTREAM_ORDER_URLS")
	l.URLs(&b.Upstreams.Payment, "UPSTREAM_PAYMENT_URLS")
	l.URLs(&b.Upstreams.User, "UPSTREAM_USER_URLS")
	l.URLs(&b.Upstreams.Notification, "UPSTREAM_NOTIFICATION_URLS")
	l.Duration(&b.Upstream.Timeout, "UPSTREAM_CALL_TIMEOUT")
	l.Int(&b.Upstream.Retries, "UPSTREAM_GET_RETRIES")
	l.Int(&b.Upstream.Breaker.ConsecutiveFailures, "UPSTREAM_BREAKER_FAILURES")
	l.Duration(&b.Upstream.Breaker.OpenTimeout, "UPSTREAM_BREAKER_OPEN_TIMEOUT")
	l.Duration(&b.Upstream.DNSRefresh, "UPSTREAM_DNS_REFRESH")
}

func loadHTTP(l *Loader, b *Base) {
	l.Int(&b.HTTP.BodyLimit, "HTTP_BODY_LIMIT")
	l.Int(&b.HTTP.HeaderLimit, "HTTP_HEADER_LIMIT")
	l.Duration(&b.HTTP.ReadTimeout, "HTTP_READ_TIMEOUT")
	l.Duration(&b.HTTP.WriteTimeout, "HTTP_WRITE_TIMEOUT")
	l.Duration(&b.HTTP.IdleTimeout, "HTTP_IDLE_TIMEOUT")
	l.Int(&b.HTTP.MaxConns, "HTTP_MAX_CONNS")
	l.Duration(&b.HTTP.ShutdownTimeout, "SHUTDOWN_TIMEOUT")
	l.Duration(&b.HTTP.ShutdownDelay, "SHUTDOWN_DELAY")
	l.Bool(&b.HTTP.HSTS, "HTTP_HSTS")
	// A setting of the rate limits for operators, read by the server's
	// middleware, which picks the caller's address.
	l.String(&b.HTTP.ClientIPHeader, "RATE_LIMIT_CLIENT_IP_HEADER")
}

func loadAuth(l *Loader, b *Base) {
	l.String(&b.Auth.Issuer, "AUTH_ISSUER")
	l.String(&b.Auth.Audience, "AUTH_AUDIENCE")
	l.Duration(&b.Auth.Leeway, "AUTH_LEEWAY")
	l.Duration(&b.Auth.RefreshInterval, "AUTH_JWKS_REFRESH_INTERVAL")
	l.Int(&b.Auth.MaxTokenBytes, "AUTH_MAX_TOKEN_BYTES")
}

func loadOrder(l *Loader, b *Base) {
	l.Duration(&b.Order.Timeout, "ORDER_TIMEOUT")
	l.Duration(&b.Order.CompensationBudget, "ORDER_COMPENSATION_BUDGET")
	l.Duration(&b.Order.LateWrites, "ORDER_LATE_WRITES")
	l.Duration(&b.Order.LeaseTTL, "ORDER_LEASE_TTL")
	l.Duration(&b.Order.RecoveryInterval, "ORDER_RECOVERY_INTERVAL")
	l.Duration(&b.Order.Retention, "IDEMPOTENCY_TTL")
}

func loadStores(l *Loader, b *Base) {
	l.String(&b.StateDir, "STATE_DIR")
	l.Int(&b.StateFile.MaxRecords, "IDEMPOTENCY_MAX_RECORDS")
	l.Secret(&b.RedisURL, "REDIS_URL")
	l.List(&b.RedisAddrs, "REDIS_ADDRS")
	l.String(&b.RedisMasterName, "REDIS_MASTER_NAME")
	l.Secret(&b.RedisPassword, "REDIS_PASSWORD")
	l.Secret(&b.RedisSentinelPassword, "REDIS_SENTINEL_PASSWORD")
	l.Int(&b.RedisJournalReplicas, "REDIS_JOURNAL_REPLICAS")
	l.String(&b.RedisKeyPrefix, "REDIS_KEY_PREFIX")
	l.Secret(&b.CursorKey, "CURSOR_KEY")
}

func loadCache(l *Loader, b *Base) {
	l.Duration(&b.Cache.ProductTTL, "CACHE_PRODUCT_TTL")
	l.Duration(&b.Cache.StockTTL, "CACHE_STOCK_TTL")
	l.Duration(&b.Cache.ListTTL, "CACHE_LIST_TTL")
	l.Int(&b.Cache.MaxItems, "CACHE_MAX_ITEMS")
}

func loadRateLimit(l *Loader, b *Base) {
	l.Int(&b.RateLimit.Default.Quota, "RATE_LIMIT_DEFAULT_REQUESTS")
	l.Duration(&b.RateLimit.Default.Window, "RATE_LIMIT_DEFAULT_WINDOW")
	l.Int(&b.RateLimit.Login.Quota, "RATE_LIMIT_LOGIN_REQUESTS")
	l.Duration(&b.RateLimit.Login.Window, "RATE_LIMIT_LOGIN_WINDOW")
	l.Int(&b.RateLimit.Orders.Quota, "RATE_LIMIT_ORDER_REQUESTS")
	l.Duration(&b.RateLimit.Orders.Window, "RATE_LIMIT_ORDER_WINDOW")
	l.Int(&b.RateLimit.MaxKeys, "RATE_LIMIT_MAX_KEYS")
}

func loadAdmission(l *Loader, b *Base) {
	l.Int(&b.Admission.InitialLimit, "ADMISSION_INITIAL_LIMIT")
	l.Int(&b.Admission.MinLimit, "ADMISSION_MIN_LIMIT")
	l.Int(&b.Admission.MaxLimit, "ADMISSION_MAX_LIMIT")
}
