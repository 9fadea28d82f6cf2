package gateway

import (
	"context"
	"errors"
	"io"
)

// Settings is a BFF's loaded configuration as BFF needs it; each BFF's
// Config implements it.
type Settings interface {
	// GatewayConfig returns the settings the Gateway is built from.
	GatewayConfig() Config
	// ListenAddr is where the BFF serves.
	ListenAddr() string
}

// RunFunc is the signature of a BFF's run: it serves until ctx ends, with
// the settings getenv holds and its logs on stdout.
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// BFF is what one BFF adds to the Gateway: its name, how it loads its
// settings and its routes. A BFF's run is its Run.
type BFF[C Settings] struct {
	// Name names the BFF in its logs, metrics, state file and Redis keys.
	Name string
	// Load reads the BFF's settings from getenv and validates them.
	Load func(getenv func(string) string) (C, error)
	// Routes mounts every endpoint of the BFF on g.
	Routes func(g *Gateway, cfg C)
}

// Run loads the settings from getenv, binds the BFF's two listeners,
// builds the Gateway with the BFF's routes, and serves it until ctx ends;
// logs go to stdout. An address it cannot have fails it before it opens
// its state or starts saga recovery.
func (b BFF[C]) Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := b.Load(getenv)
	if err != nil {
		return err
	}
	ls, err := Listen(cfg.ListenAddr(), cfg.GatewayConfig().AdminAddr)
	if err != nil {
		return err
	}
	g, err := b.assemble(cfg, stdout)
	if err != nil {
		return errors.Join(err, ls.Close())
	}
	return g.ServeListeners(ctx, ls)
}

// Build is Run without serving: the Gateway with the BFF's routes, for a
// test that inspects them. The caller closes it.
func (b BFF[C]) Build(getenv func(string) string, stdout io.Writer) (*Gateway, error) {
	cfg, err := b.Load(getenv)
	if err != nil {
		return nil, err
	}
	return b.assemble(cfg, stdout)
}

func (b BFF[C]) assemble(cfg C, stdout io.Writer) (*Gateway, error) {
	g, err := New(b.Name, cfg.GatewayConfig(), stdout)
	if err != nil {
		return nil, err
	}
	b.Routes(g, cfg)
	return g, nil
}
