package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Sandbox bound to listeners, one per service, ready to Serve.
type Server struct {
	servers map[string]*http.Server
	lns     map[string]net.Listener
}

// Listen binds each service named in addrs ("product" → "127.0.0.1:8001")
// to its address. Port 0 picks a free port; URL tells which.
func (s *Sandbox) Listen(addrs map[string]string) (*Server, error) {
	for name := range addrs {
		if _, ok := s.service(name); !ok {
			return nil, fmt.Errorf("listen: unknown service %q", name)
		}
	}
	srv := &Server{servers: map[string]*http.Server{}, lns: map[string]net.Listener{}}
	for _, name := range Services {
		addr, ok := addrs[name]
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			srv.closeListeners()
			return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
		}
		srv.lns[name] = ln
		srv.servers[name] = &http.Server{Handler: s.Handler(name), ReadHeaderTimeout: 10 * time.Second}
	}
	return srv, nil
}

// URL returns the base URL of a listening service, "" if it is not served.
func (srv *Server) URL(service string) string {
	ln, ok := srv.lns[service]
	if !ok {
		return ""
	}
	return "http://" + ln.Addr().String()
}

func (srv *Server) closeListeners() {
	for _, ln := range srv.lns {
		_ = ln.Close()
	}
}

// Serve serves every service until ctx is done, then shuts them down
// gracefully, waiting up to ten seconds for requests in flight. It returns
// the first serving error, or nil after a clean shutdown.
func (srv *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(srv.servers))
	for name, hs := range srv.servers {
		go func() {
			if err := hs.Serve(srv.lns[name]); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", name, err)
				return
			}
			errc <- nil
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for name, hs := range srv.servers {
		if err := hs.Shutdown(shutdownCtx); err != nil && first == nil {
			first = fmt.Errorf("shut down %s: %w", name, err)
		}
	}
	return first
}
