package main

import (
	"fmt"

	"storefront.dev/shared/config"
	"storefront.dev/shared/gateway"
)

// Config is every setting of bff-mobile; defaultConfig states the defaults.
type Config struct {
	// Addr is BFF_MOBILE_ADDR (addrVar), or the -addr flag, where the
	// server listens; default :8090.
	Addr string
	// Base holds the settings shared with bff-web (upstreams, limits, auth,
	// order flow, idempotency).
	config.Base
}

// addrVar is the variable of the public listen address.
const addrVar = "BFF_MOBILE_ADDR"

// GatewayConfig returns the settings shared with bff-web.
func (c Config) GatewayConfig() gateway.Config { return c.Base }

// ListenAddr is Addr.
func (c Config) ListenAddr() string { return c.Addr }

func defaultConfig() Config {
	cfg := Config{Addr: ":8090", Base: gateway.DefaultConfig()}
	// Its own, not the gateway's (bff-web's): both run on one host.
	cfg.AdminAddr = "127.0.0.1:9190"
	return cfg
}

func loadConfig(getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	l := config.NewLoader(getenv)
	l.Addr(&cfg.Addr, addrVar)
	config.LoadBase(l, &cfg.Base)
	if err := l.Err(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := config.Check(l, &cfg, defaultConfig(), func(c Config) error { return c.Base.Validate() }); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}
