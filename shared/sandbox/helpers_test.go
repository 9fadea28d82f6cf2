package sandbox_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
)

// t0 is the start of every manual clock in these tests.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request. body may be nil, a string (sent as is) or a value
// to encode as JSON; headers come in name, value pairs.
func do(t *testing.T, method, url string, body any, headers ...string) response {
	t.Helper()
	resp, err := send(http.DefaultClient, method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func send(client *http.Client, method, url string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// want fails the test unless the status is status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem body and checks its media type and code.
func (r response) problem(t *testing.T, status int, code string) upstream.Problem {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	var p upstream.Problem
	r.decode(t, &p)
	if p.Code != code {
		t.Errorf("got code %q, want %q (detail %q)", p.Code, code, p.Detail)
	}
	if p.Status != status {
		t.Errorf("got problem status %d, want %d", p.Status, status)
	}
	return p
}

func startManual(t *testing.T) (*sandboxtest.Running, *clocktest.Manual) {
	t.Helper()
	clock := clocktest.New(t0)
	return sandboxtest.Start(t, sandbox.Config{Clock: clock.Now}), clock
}

// listAll follows a list's cursors from its first page and returns every
// item, failing the test after maxPages pages. url ends where the cursor
// goes ("...&cursor=").
func listAll[T any](t *testing.T, url string, maxPages int) []T {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > maxPages {
			t.Fatal("pagination does not end")
		}
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		do(t, "GET", url+cursor, nil).want(t, http.StatusOK).decode(t, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func stockOf(t *testing.T, st sandbox.State, id int64) sandbox.StockLevel {
	t.Helper()
	for _, p := range st.Product.Products {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("product %d not in state", id)
	return sandbox.StockLevel{}
}

// checkInvariants fails the test on any violation.
func checkInvariants(t *testing.T, st sandbox.State) {
	t.Helper()
	for _, err := range st.Invariants() {
		t.Errorf("invariant violated: %v", err)
	}
}
