package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver"
)

// TestOversizedBodyGetsItsAnswer: a client still sending a request the
// server refused as too large reads the 413 (or 431), not a reset. The
// server stops reading at the limit; closing then with the rest unread
// would make the close a reset, which can discard the answer in the
// client's buffers before it is read. A declared length, a chunked body,
// and headers over their limit, each on a connection of its own.
func TestOversizedBodyGetsItsAnswer(t *testing.T) {
	s := hostileServer(t, func(c *httpserver.Config) { c.BodyLimit = 1024 })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOnFreePort(ctx, s.Server) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	base := "http://" + waitListening(t, s)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	body := bytes.Repeat([]byte("x"), 4<<20)
	for _, tc := range []struct {
		name            string
		chunked, padded bool
		status          int
		code            string
	}{
		{"declared length", false, false, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"chunked", true, false, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"headers too large", false, true, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large"},
	} {
		for i := range 10 {
			var r io.Reader = bytes.NewReader(body)
			if tc.chunked {
				r = io.MultiReader(r) // no length known: sent chunked
			}
			req, err := http.NewRequest("POST", base+"/echo", r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.padded {
				req.Header.Set("X-Padding", strings.Repeat("p", 64<<10))
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s, try %d: %v, want a %d", tc.name, i, err, tc.status)
				continue
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(got), tc.code) {
				t.Errorf("%s, try %d: %d %s, want %d %s", tc.name, i, resp.StatusCode, got, tc.status, tc.code)
			}
		}
	}
	// Counted by the method sent where the server kept it: a request
	// whose request line it dropped or never parsed is of no method known.
	want := map[string]uint64{"POST unread 413": 10, "unknown unread 413": 10, "unknown unread 431": 10}
	if got := s.requests(t, "method", "route", "status"); !maps.Equal(got, want) {
		t.Errorf("requests counted %v, want %v", got, want)
	}
}
