package gateway

// descriptorReserve is what a BFF holds open besides its connections: its
// listeners, its state file, its Redis connections, its standard streams.
const descriptorReserve = 64

// descriptorsNeeded is how many file descriptors cfg may hold open at
// once, at least: HTTP_MAX_CONNS connections of clients and every
// upstream instance's pool full (a host name that resolves to several
// addresses has a pool for each, which this does not count).
func descriptorsNeeded(cfg Config) int {
	n := cfg.HTTP.MaxConns + descriptorReserve
	u := cfg.Upstreams
	for _, urls := range [][]string{u.Product, u.Order, u.Payment, u.User, u.Notification} {
		n += len(urls) * cfg.Upstream.MaxConnsPerInstance
	}
	return n
}

// warnOfDescriptors logs when the process may open fewer files than cfg's
// connections need: past the limit, the server waits for connections to
// close before it takes another, and an upstream call fails to dial.
func (g *Gateway) warnOfDescriptors(cfg Config) {
	limit, ok := openFileLimit()
	if need := descriptorsNeeded(cfg); ok && uint64(need) > limit {
		g.Logger.Warn("the open file limit is below what HTTP_MAX_CONNS and the upstream pools may need: raise it (ulimit -n) or lower HTTP_MAX_CONNS",
			"open_file_limit", limit, "needed", need)
	}
}
