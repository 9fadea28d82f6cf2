package servertest

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// FreeAddr returns a loopback address nothing listens on: a free port,
// closed again, for a server that a test starts, or restarts, there later.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// CheckReadyzTurnsReady starts a BFF through run while its payment upstream
// is not listening yet, checks that /healthz answers but /readyz is a 503
// naming that upstream, then brings the upstream up on the address the BFF
// was given and waits for /readyz to turn ready. addrVar is the BFF's
// listen-address setting.
func CheckReadyzTurnsReady(t *testing.T, run RunFunc, addrVar string) {
	t.Helper()
	rt := sandboxtest.Start(t, sandbox.Config{})
	addr := FreeAddr(t) // nothing listens there until the upstream "starts" below

	env := UpstreamEnv(rt)
	env[addrVar] = "127.0.0.1:0"
	env["UPSTREAM_PAYMENT_URLS"] = "http://" + addr
	env["UPSTREAM_BREAKER_OPEN_TIMEOUT"] = "200ms"
	base := Launch(t, run, env)

	if r := Do(t, "GET", base+"/healthz", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz: status %d, want 200 while an upstream is down", r.Status)
	}
	r := Do(t, "GET", base+"/readyz", nil)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `"payment"`) {
		t.Fatalf("/readyz with the payment service down: status %d body %s, want 503 naming it", r.Status, r.Body)
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the freed port %s was taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: rt.Sandbox.Handler(sandbox.ServicePayment)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	WaitReady(t, base)
}
