package servertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
)

// Stack is a BFF started through its run in front of a sandbox whose clock
// the test moves: what an end-to-end test of a BFF drives. The sandbox's
// admin and state methods are the Stack's own.
type Stack struct {
	*sandboxtest.Running
	// Clock is the sandbox's clock; Settle moves it.
	Clock *clocktest.Manual
	// Base is the BFF's base URL.
	Base string
}

// StackEnv is the environment of a BFF in front of rt in an end-to-end
// test: UpstreamEnv, an admin listener on a free loopback port, request
// quotas and a concurrency limit no test reaches, then settings, name,
// value pairs, over all of them: the BFF's listen address, and a
// rate-limit or overload test's own limits.
func StackEnv(rt *sandboxtest.Running, settings ...string) map[string]string {
	env := UpstreamEnv(rt)
	// A BFF run outside Launch must not take the default admin port, which
	// a BFF running on the machine may hold.
	env["ADMIN_ADDR"] = "127.0.0.1:0"
	// Tests send hundreds of requests from one user and one address in a
	// moment, at once, on a machine slowed down by the race detector.
	for _, q := range []string{"RATE_LIMIT_DEFAULT_REQUESTS", "RATE_LIMIT_LOGIN_REQUESTS", "RATE_LIMIT_ORDER_REQUESTS",
		"ADMISSION_INITIAL_LIMIT", "ADMISSION_MIN_LIMIT", "ADMISSION_MAX_LIMIT"} {
		env[q] = "100000"
	}
	for i := 0; i+1 < len(settings); i += 2 {
		env[settings[i]] = settings[i+1]
	}
	return env
}

// StartStack starts a sandbox on a manual clock, then a BFF through run in
// front of it, with StackEnv(settings...), and waits for it to be ready.
func StartStack(tb testing.TB, run RunFunc, settings ...string) *Stack {
	tb.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(tb, sandbox.Config{Clock: clock.Now})
	return &Stack{Running: rt, Clock: clock, Base: Start(tb, run, StackEnv(rt, settings...))}
}

// Login posts a user's email and password as JSON to path on the BFF,
// fails tb unless the answer is a 200, decodes it into v and returns it.
func (s *Stack) Login(tb testing.TB, path, email, password string, v any) Response {
	tb.Helper()
	r := Do(tb, "POST", s.Base+path, map[string]string{"email": email, "password": password})
	if r.Status != 200 {
		tb.Fatalf("login %s: status %d, body %s", email, r.Status, r.Body)
	}
	r.JSON(tb, v)
	return r
}

// Expiry says whether Settle moves the sandbox's clock past every TTL.
type Expiry bool

const (
	// KeepClock checks the invariants without that help, so that a missing
	// undo shows.
	KeepClock Expiry = false
	// ExpireHolds is for scenarios where a write landed after the order
	// flow gave up: what it holds expires, as it would in production.
	ExpireHolds Expiry = true
)

// Settle clears the injected faults and waits for requests still sleeping
// in an injected latency to land (the upstream processes them late, as a
// slow real service would); with ExpireHolds it then moves the clock past
// the sandbox's reservation and hold TTLs (10 minutes).
func (s *Stack) Settle(tb testing.TB, exp Expiry) {
	tb.Helper()
	if err := s.ClearFaults(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if !s.Sandbox.WaitIdle() {
		tb.Fatal("the sandbox still had requests in flight after 10s")
	}
	if exp == ExpireHolds {
		s.Clock.Advance(11 * time.Minute)
	}
}

// OrderBody is the body of an order request, the same on both BFFs:
// lines (see Line) paid with the payment token.
func OrderBody(token string, lines ...map[string]any) map[string]any {
	return map[string]any{"items": lines, "payment_token": token}
}

// Line is one line of an OrderBody.
func Line(productID int64, quantity int) map[string]any {
	return map[string]any{"product_id": productID, "quantity": quantity}
}

var keySeq atomic.Int64

// NewKey returns an Idempotency-Key no other request of the test binary
// uses.
func NewKey() string { return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keySeq.Add(1)) }

// View is a GET of a BFF whose 200 answer the golden file testdata/Golden
// holds.
type View struct{ Name, Path, Golden string }

// CheckViews GETs each view from the BFF, with headers, in a subtest named
// after it, and compares the 200 answer with its golden file (CheckGolden).
func (s *Stack) CheckViews(t *testing.T, views []View, headers ...string) {
	t.Helper()
	for _, v := range views {
		t.Run(v.Name, func(t *testing.T) {
			r := Do(t, "GET", s.Base+v.Path, nil, headers...)
			if r.Status != 200 {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			CheckGolden(t, v.Golden, r.Body)
		})
	}
}

// Listed is an item of a BFF's catalog page, as WalkCatalog reads it.
type Listed struct {
	ID int64 `json:"id"`
	// Category is "" where the BFF's listing leaves it out.
	Category string `json:"category"`
}

// WalkCatalog GETs the BFF's catalog listing at path page by page, limit
// items a page within category ("" for all of it), following each page's
// next_cursor, and returns the items walked. Every page must answer 200
// with at most limit items and a URL-safe cursor, and the walk must list
// the sandbox's catalog of category exactly: in order, no duplicates, no
// gaps.
func (s *Stack) WalkCatalog(t *testing.T, path, category string, limit int) []Listed {
	t.Helper()
	want := s.CatalogIDs(t, category)
	var items []Listed
	var got []int64
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("got more than %d pages, want the cursor to end", len(want))
		}
		r := Do(t, "GET", fmt.Sprintf("%s%s?category=%s&limit=%d&cursor=%s", s.Base, path, category, limit, cursor), nil)
		if r.Status != 200 {
			t.Fatalf("page %d: status %d, body %s", pages, r.Status, r.Body)
		}
		var page struct {
			Items      []Listed `json:"items"`
			NextCursor string   `json:"next_cursor"`
		}
		r.JSON(t, &page)
		if len(page.Items) > limit {
			t.Fatalf("page %d: %d items, want at most %d", pages, len(page.Items), limit)
		}
		for _, it := range page.Items {
			items, got = append(items, it), append(got, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		if strings.Contains(page.NextCursor, "=") {
			t.Errorf("cursor %q is not URL-safe unpadded base64", page.NextCursor)
		}
		cursor = page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("walked ids %v, want the catalog's %v (no duplicates, no gaps)", got, want)
	}
	return items
}

// Refused is a GET a BFF must answer with a problem: Status, and Code and
// Field where they are not "".
type Refused struct {
	Name, Path  string
	Status      int
	Code, Field string
}

// CheckRefused GETs each path from the BFF, in a subtest named after it,
// and checks the problem it answers.
func (s *Stack) CheckRefused(t *testing.T, refused []Refused) {
	t.Helper()
	for _, tt := range refused {
		t.Run(tt.Name, func(t *testing.T) {
			r := Do(t, "GET", s.Base+tt.Path, nil)
			if r.Status != tt.Status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.Status, r.Body)
			}
			if p := r.Problem(t); tt.Code != "" && p["code"] != tt.Code || tt.Field != "" && p["field"] != tt.Field {
				t.Errorf("problem %v, want code %q field %q", p, tt.Code, tt.Field)
			}
		})
	}
}

// CancelledUnplaced returns the id of the one order of userID in rt's
// order service that its checkout cancelled before placing it (cancelled,
// naming no payment), as a declined or out-of-stock checkout leaves.
func CancelledUnplaced(tb testing.TB, rt *sandboxtest.Running, userID string) string {
	tb.Helper()
	var ids []string
	for _, o := range rt.State(tb).Order.Orders {
		if o.UserID == userID && o.Status == order.StatusCancelled && o.PaymentID == "" {
			ids = append(ids, o.ID)
		}
	}
	if len(ids) != 1 {
		tb.Fatalf("orders of %s cancelled before they were placed: %v, want one", userID, ids)
	}
	return ids[0]
}
