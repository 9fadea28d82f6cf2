package main

import (
	"context"
	"io"

	"storefront.dev/shared/gateway"
)

// run loads the configuration, assembles the gateway, mounts the routes and
// serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	g, err := gateway.New("bff-mobile", cfg.Base, stdout)
	if err != nil {
		return err
	}
	routes(g, cfg)
	return g.Serve(ctx, cfg.Addr)
}
