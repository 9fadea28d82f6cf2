package upstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Resolver looks a host name up, as net.Resolver.LookupHost does.
type Resolver func(ctx context.Context, host string) ([]string, error)

// target is one instance URL of a service.
type target struct {
	// base is the prefix of every request URI; its host is the one the
	// Host header names, whatever address is dialled.
	base       string
	host, port string
	tls        bool
	// named is true when host is a name to look up, not an IP literal.
	named bool
}

// parseTarget reads one base URL: scheme://host[:port][/prefix].
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("instance url %q: %w", raw, err)
	}
	t := target{tls: u.Scheme == "https"}
	if u.Scheme != "http" && u.Scheme != "https" {
		return target{}, fmt.Errorf("instance url %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return target{}, fmt.Errorf("instance url %q: want scheme://host[:port][/prefix]", raw)
	}
	t.host, t.port = u.Hostname(), u.Port()
	if t.port == "" {
		t.port = map[bool]string{true: "443", false: "80"}[t.tls]
	}
	t.named = net.ParseIP(t.host) == nil
	t.base = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
	return t, nil
}

// pool is a service's instances: one per address of each target, the
// addresses of a host name looked up again every DNSRefresh. The list is
// replaced whole, so that a call reads it without a lock; an instance
// whose address stays keeps its connections and its health.
type pool struct {
	targets []target
	cfg     config
	list    atomic.Pointer[[]*instance]
	picks   atomic.Uint64        // counts pick's choices, for its ties
	mu      sync.Mutex           // serializes refreshes
	byKey   map[string]*instance // guarded by mu; key: base and address
	stop    context.CancelFunc
	done    chan struct{}
}

func newPool(urls []string, cfg config) (*pool, error) {
	p := &pool{cfg: cfg, byKey: map[string]*instance{}, stop: func() {}}
	named := false
	for _, raw := range urls {
		t, err := parseTarget(raw)
		if err != nil {
			return nil, err
		}
		p.targets = append(p.targets, t)
		named = named || t.named
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout)
	p.refresh(ctx)
	cancel()
	if named {
		ctx, stop := context.WithCancel(context.Background())
		p.stop, p.done = stop, make(chan struct{})
		go p.run(ctx)
	}
	return p, nil
}

func (p *pool) instances() []*instance { return *p.list.Load() }

// run refreshes the pool every DNSRefresh until ctx ends.
func (p *pool) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(p.cfg.DNSRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			rctx, cancel := context.WithTimeout(ctx, p.cfg.DNSRefresh/2)
			p.refresh(rctx)
			cancel()
		}
	}
}

// refresh builds the list from each target's addresses now, at most
// maxInstances, and closes the idle connections of the instances gone.
func (p *pool) refresh(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := map[string]*instance{}
	list := []*instance{}
	for _, t := range p.targets {
		for _, addr := range p.addresses(ctx, t) {
			key := t.base + " " + addr
			if _, dup := next[key]; dup || len(list) == maxInstances {
				continue
			}
			in := p.byKey[key]
			if in == nil {
				in = newInstance(t, addr, p.cfg)
			}
			next[key] = in
			list = append(list, in)
		}
	}
	for key, in := range p.byKey {
		if next[key] == nil {
			in.client.CloseIdleConnections()
		}
	}
	p.byKey = next
	p.list.Store(&list)
}

// addresses are t's to dial: its literal address, or those its name
// resolves to now. When the lookup fails or finds nothing, the addresses it
// had are kept (the first time, the name itself, which the dialer looks up
// when it connects): a DNS hiccup must not empty the service.
func (p *pool) addresses(ctx context.Context, t target) []string {
	if !t.named {
		return []string{net.JoinHostPort(t.host, t.port)}
	}
	ips, err := p.cfg.resolve(ctx, t.host)
	if err != nil || len(ips) == 0 {
		var kept []string
		for _, in := range p.byKey {
			if in.base == t.base {
				kept = append(kept, in.addr)
			}
		}
		if len(kept) == 0 {
			kept = []string{net.JoinHostPort(t.host, t.port)}
		}
		slices.Sort(kept)
		return kept
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip, t.port)
	}
	slices.Sort(addrs)
	return addrs
}

// close stops the refreshes and closes every idle connection.
func (p *pool) close() {
	p.stop()
	if p.done != nil {
		<-p.done
	}
	for _, in := range p.instances() {
		in.client.CloseIdleConnections()
	}
}

// pick returns the index of the instance to send to among those not in
// tried: of two chosen at random, the one with fewer requests in flight
// (the power of two choices), or on a tie the one picked less recently, so
// that calls one at a time alternate (a tie broken by the count of calls
// each was sent would send every call to an instance new from a refresh,
// or back from a long cooldown, until it caught up); instances not left
// out first; -1 when every instance was tried.
func (p *pool) pick(insts []*instance, tried uint64, now time.Time) int {
	var cand [maxInstances]int
	for pass := range 2 {
		n := 0
		for i, in := range insts {
			if tried&(1<<i) == 0 && in.available(now) == (pass == 0) {
				cand[n] = i
				n++
			}
		}
		switch n {
		case 0:
			continue
		case 1:
			return cand[0]
		}
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		a, b := insts[cand[i]], insts[cand[j]]
		if fa, fb := a.inflight.Load(), b.inflight.Load(); fb < fa || fb == fa && b.picked.Load() < a.picked.Load() {
			i, a = j, b
		}
		a.picked.Store(p.picks.Add(1))
		return cand[i]
	}
	return -1
}
