package httpserver

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	json "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin is the handler of the admin listener: GET /metrics (Prometheus
// text format), Go's profiles under /debug/pprof/, GET /healthz, the
// process being alive, and GET /readyz, answered as the public one (see
// Health). Metrics and profiles are never served on the public port: the
// metrics name routes and upstreams, and a profile can take a CPU's worth
// of time. The probes are here too so that they do not depend on load:
// the public port refuses connections over HTTP_MAX_CONNS, and probes
// refused there would restart every replica of a flood at once (liveness),
// or take them all out of the load balancer (readiness).
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		degraded, p := s.readiness(r.Context())
		if p != nil {
			writeHTTPProblem(w, p, r.URL.Path)
			return
		}
		body, _ := json.Marshal(readyBody{Status: "ready", Degraded: degraded})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeAdmin serves Admin on ln until stop is called, which closes ln,
// and logs the bound address ("admin listening"), so that a caller that
// asked for port 0 can find it.
func (s *Server) ServeAdmin(ln net.Listener) (stop func()) {
	s.logger.Info("admin listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())
	return s.serveAdmin(ln)
}

// serveAdmin serves Admin on ln until stop is called. The admin listener
// failing is logged: the API goes on serving, but metrics and profiles are
// gone until the process restarts, which nothing else would tell.
func (s *Server) serveAdmin(ln net.Listener) (stop func()) {
	srv := &http.Server{Handler: s.Admin(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("admin server failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return func() { _ = srv.Close() }
}
