package contract

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
)

// CheckServerRefusals checks that document describes, on every operation,
// the answers the HTTP server gives before any route runs: to a request
// whose header is malformed (400), that is not received in time (408), whose
// body or headers are over the limits (413, 431), and to a connection over
// the connection limit (503). Each is sent over a raw connection to a BFF
// started through run in front of a sandbox, with settings (name, value
// pairs: at least its listen address) and small limits of its own, and each
// answer is checked against document.
func CheckServerRefusals(t *testing.T, run servertest.RunFunc, document []byte, settings ...string) {
	t.Helper()
	c, err := Load(document)
	if err != nil {
		t.Fatal(err)
	}
	ops := c.Operations()
	t.Run("while read", func(t *testing.T) {
		s := servertest.StartStack(t, run, append(slices.Clone(settings),
			"HTTP_BODY_LIMIT", "1024", "HTTP_HEADER_LIMIT", "4096",
			// Short, so that the slow requests are answered soon.
			"HTTP_READ_TIMEOUT", "1s")...)
		for _, op := range ops {
			path := concretePath(op.Path)
			head := op.Method + " " + path + " HTTP/1.1\r\nHost: x\r\n"
			for _, tt := range []struct {
				name, request string
				status        int
			}{
				{"malformed header", head + "X-Bad: a\x01b\r\n\r\n", http.StatusBadRequest},
				{"not received in time", head, http.StatusRequestTimeout},
				{"body too large", head + "Content-Length: 2000\r\n\r\n" + strings.Repeat("x", 2000), http.StatusRequestEntityTooLarge},
				{"headers too large", head + "X-Pad: " + strings.Repeat("p", 5000) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
			} {
				t.Run(op.Method+" "+op.Path+" "+tt.name, func(t *testing.T) {
					t.Parallel()
					checkRefusal(t, c, op.Method, s.Base+path, tt.status, servertest.Raw(t, s.Base, tt.request))
				})
			}
		}
	})
	t.Run("over the connection limit", func(t *testing.T) {
		s := servertest.StartStack(t, run, append(slices.Clone(settings),
			// Long, so that the connection held is not closed meanwhile.
			"HTTP_MAX_CONNS", "1", "HTTP_READ_TIMEOUT", "1m")...)
		holdOnlyConnection(t, s.Base)
		for _, op := range ops {
			path := concretePath(op.Path)
			t.Run(op.Method+" "+op.Path, func(t *testing.T) {
				r := servertest.Raw(t, s.Base, op.Method+" "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
				checkRefusal(t, c, op.Method, s.Base+path, http.StatusServiceUnavailable, r)
			})
		}
	})
}

// checkRefusal fails t unless r has status want and document describes it
// as an answer to method and url.
func checkRefusal(t *testing.T, c *Contract, method, url string, want int, r servertest.Response) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("got status %d, want %d; body %s", r.Status, want, r.Body)
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(req, r.Status, r.Header, r.Body); err != nil {
		t.Error(err)
	}
}

// holdOnlyConnection opens the one connection a server limited to one
// accepts, and keeps it open until t ends, so that the server refuses any
// other. The idle connections of the default transport, which the test's
// clients share, are closed first: one of them may hold the place.
func holdOnlyConnection(t *testing.T, base string) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	// A bound on the test: the server frees the place of a connection
	// closed by the client once it sees the close.
	for range 100 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// A refused connection is answered and closed at once; one
		// accepted waits, silent, for its request.
		if err := conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, err = conn.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Cleanup(func() { _ = conn.Close() })
			return
		}
		_ = conn.Close()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no connection to %s was accepted", base)
}

// concretePath is template with each {parameter} replaced by 1.
func concretePath(template string) string {
	segs := strings.Split(template, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "1"
		}
	}
	return strings.Join(segs, "/")
}
