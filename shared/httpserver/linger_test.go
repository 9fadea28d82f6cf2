package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver"
)

// TestOversizedBodyGetsItsAnswer: a client still sending a body the server
// refused as too large reads the 413, not a reset. The server stops
// reading at the limit; closing then with the rest of the body unread
// would make the close a reset, which can discard the answer in the
// client's buffers before it is read. Both a declared length and a chunked
// body, each on a connection of its own.
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
	for _, chunked := range []bool{false, true} {
		for i := range 10 {
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // no length known: sent chunked
			}
			req, err := http.NewRequest("POST", base+"/echo", r)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("chunked %v, try %d: %v, want a 413", chunked, i, err)
				continue
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(got), "payload_too_large") {
				t.Errorf("chunked %v, try %d: %d %s, want 413 payload_too_large", chunked, i, resp.StatusCode, got)
			}
		}
	}
}
