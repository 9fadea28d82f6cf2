package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// checkoutLatencyKey is the -only key of the checkout latency.
const checkoutLatencyKey = "checkout-latency"

// writeLatency is injected on each of the checkout's writes
// (sandbox.CheckoutWrites) while the checkout latency is measured: with
// every write that slow, the checkout's latency is mostly its writes, and
// how many of them it overlaps shows.
const writeLatency = 2 * time.Millisecond

// targetCheckoutRatio is the most a checkout may take, as a share of its
// writes made one after another.
const targetCheckoutRatio = 0.75

// checkoutWarmup is how many checkouts, and chains, are made first and not
// measured: they open the connections the measured ones reuse.
const checkoutWarmup = 3

// checkoutLatency is what one checkout at a time costs through bff-mobile,
// against the same writes made directly one after another.
type checkoutLatency struct {
	// Skipped says why it was not measured; empty when it was.
	Skipped string
	// Writes holds the latencies of each of sandbox.CheckoutWrites, in its
	// order, sent directly to the sandbox.
	Writes []loadResult
	// Checkout holds the latencies of the checkouts, POST /v1/orders.
	Checkout loadResult
}

// checkoutName labels the checkouts in the report.
const checkoutName = "POST /v1/orders (bff-mobile)"

// chainMean is the mean latency of the checkout's writes in a chain: the
// sum of each write's mean. 0 when a write was not measured.
func (c checkoutLatency) chainMean() time.Duration {
	var sum time.Duration
	for _, w := range c.Writes {
		if w.Latency == nil || w.Latency.total == 0 {
			return 0
		}
		sum += w.Latency.mean()
	}
	return sum
}

// ratio is the checkouts' mean latency over chainMean; NaN when either is
// unknown.
func (c checkoutLatency) ratio() float64 {
	chain := c.chainMean()
	if c.Skipped != "" || chain == 0 || c.Checkout.Latency == nil || c.Checkout.Latency.total == 0 {
		return math.NaN()
	}
	return float64(c.Checkout.Latency.mean()) / float64(chain)
}

// rows are the writes and the checkouts as rows, for verdict.
func (c checkoutLatency) rows() []row {
	if c.Skipped != "" {
		return []row{{target: target{Name: checkoutName}, Skipped: c.Skipped}}
	}
	var out []row
	for i, w := range sandbox.CheckoutWrites() {
		out = append(out, row{target: target{Name: w.Route + " (sandbox)"}, Result: c.Writes[i]})
	}
	return append(out, row{target: target{Name: checkoutName}, Result: c.Checkout})
}

func newLoadResult() loadResult {
	return loadResult{Statuses: map[int]uint64{}, Latency: &histogram{}}
}

// measureCheckoutLatency injects writeLatency on each of
// sandbox.CheckoutWrites, then, cfg.Checkouts times, makes the writes of one
// checkout directly against the sandbox one after another, and places one
// order through bff-mobile; each side sends one request at a time on one
// connection per server. The two alternate so that both see the same load
// of a shared machine. The latency is removed before it returns, on Ctrl-C
// too.
func (a *admin) measureCheckoutLatency(ctx context.Context, st *stack, fx fixtures, cfg config, keyPrefix string) (c checkoutLatency, err error) {
	c.Checkout = newLoadResult()
	mobile := st.BFFs["bff-mobile"]
	checkout := target{Name: checkoutName, Server: "bff-mobile", Addr: mobile.Addr, Method: "POST",
		Paths: []string{"/v1/orders"}, Header: [][2]string{{"Authorization", "Bearer " + fx.Token}},
		Body: orderBody(cfg.ProductID), UniqueKey: true}
	cl := newLoader(mobile.Addr, 1, cfg.Timeout)
	defer cl.close()
	if err := cl.probe(checkout, keyPrefix+"c-"); errors.Is(err, errRouteMissing) {
		c.Skipped = err.Error()
		return c, nil
	} else if err != nil {
		return c, err
	}

	var p product.Product
	productURL := "http://" + st.Sandbox[sandbox.ServiceProduct] + "/products/" + strconv.FormatInt(cfg.ProductID, 10)
	if err := a.call(ctx, http.MethodGet, productURL, nil, nil, http.StatusOK, &p); err != nil {
		return c, fmt.Errorf("checkout latency: read the product: %w", err)
	}
	// Each chain and each checkout takes one unit; the probe took its own.
	if need := 2 * (cfg.Checkouts + checkoutWarmup); p.Stock < need {
		if err := a.sandbox.SetStock(ctx, cfg.ProductID, benchStock); err != nil {
			return c, fmt.Errorf("checkout latency: raise stock: %w", err)
		}
	}

	defer func() {
		if cerr := a.sandbox.ClearFaults(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("checkout latency: remove the injected latency: %w", cerr))
		}
	}()
	for _, w := range sandbox.CheckoutWrites() {
		f := sandbox.Fault{Route: w.Route, LatencyMS: int(writeLatency / time.Millisecond)}
		if err := a.sandbox.InjectFault(ctx, w.Service, f); err != nil {
			return c, fmt.Errorf("checkout latency: %w", err)
		}
	}

	ch := newChain(st.Sandbox, cfg.Timeout, p)
	defer ch.close()
	scratch := make([]loadResult, len(ch.writes))
	for i := range scratch {
		scratch[i] = newLoadResult()
	}
	for i := range checkoutWarmup {
		ch.run(fmt.Sprintf("%swarm-%d", keyPrefix, i), scratch)
		cl.worker(ctx, checkout, time.Time{}, 1, fmt.Sprintf("%scwarm-%d-", keyPrefix, i), 0)
	}
	c.Writes = make([]loadResult, len(ch.writes))
	for i := range c.Writes {
		c.Writes[i] = newLoadResult()
	}
	for i := 0; i < cfg.Checkouts && ctx.Err() == nil; i++ {
		ch.run(fmt.Sprintf("%s%d", keyPrefix, i), c.Writes)
		c.Checkout.add(cl.worker(ctx, checkout, time.Time{}, 1, fmt.Sprintf("%sc%d-", keyPrefix, i), 0))
	}
	return c, nil
}

// chain makes the writes of one checkout directly against the sandbox,
// one after another, over one connection per service.
type chain struct {
	writes  []sandbox.Endpoint // sandbox.CheckoutWrites
	loaders map[string]*loader // by service
	product product.Product
}

func newChain(sandboxAddrs map[string]string, timeout time.Duration, p product.Product) *chain {
	ch := &chain{writes: sandbox.CheckoutWrites(), loaders: map[string]*loader{}, product: p}
	for _, w := range ch.writes {
		if ch.loaders[w.Service] == nil {
			ch.loaders[w.Service] = newLoader(sandboxAddrs[w.Service], 1, timeout)
		}
	}
	return ch
}

func (ch *chain) close() {
	for _, l := range ch.loaders {
		l.close()
	}
}

// run makes each of ch.writes with references made from ref, counting
// each into the result of the same index; it stops at the first failure,
// since the writes after it need its id.
func (ch *chain) run(ref string, into []loadResult) {
	const userID = "bench-checkout-latency"
	price := ch.product.Price
	var reservationID, paymentID, orderID string
	for i, w := range ch.writes {
		var (
			path string
			body any
			id   *string
		)
		switch w.Route {
		case sandbox.RouteReserve:
			path, id = "/reservations", &reservationID
			body = product.ReserveRequest{Reference: ref + "-res", Items: []product.Line{{ProductID: ch.product.ID, Quantity: 1}}}
		case sandbox.RouteAuthorize:
			path, id = "/payments", &paymentID
			body = payment.AuthorizeRequest{Reference: ref + "-pay", UserID: userID, Amount: price, Token: payment.TokenVisa}
		case sandbox.RouteCreateOrder:
			path, id = "/orders", &orderID
			body = order.CreateRequest{Reference: ref + "-ord", UserID: userID, Total: price,
				Items: []order.Line{{ProductID: ch.product.ID, Name: ch.product.Name, Quantity: 1, UnitPrice: price}}}
		case sandbox.RouteCapture:
			path = "/payments/" + paymentID + "/capture"
		case sandbox.RouteConfirm:
			// As the checkout sends it: the order was created without them.
			path = "/orders/" + orderID + "/confirm"
			body = order.ConfirmRequest{PaymentID: paymentID, ReservationID: reservationID}
		case sandbox.RouteCommit:
			path = "/reservations/" + reservationID + "/commit"
		}
		if !ch.loaders[w.Service].post(path, body, id, &into[i]) {
			return
		}
	}
}

// post sends one POST with body as JSON (nil for none), counts its latency
// and answer into r, and decodes the answer's id into id when not nil. It
// reports whether the write succeeded.
func (l *loader) post(path string, body any, id *string, r *loadResult) bool {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(path)
	req.Header.SetHost(l.client.Addr)
	req.Header.SetMethod(fasthttp.MethodPost)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.invalid(fmt.Errorf("POST %s: %w", path, err))
			return false
		}
		req.Header.SetContentType("application/json")
		req.SetBody(b)
	}
	began := time.Now()
	err := l.client.DoTimeout(req, resp, l.timeout)
	r.Latency.record(time.Since(began))
	r.Requests++
	if r.failed(resp.StatusCode(), err, resp.Body()) {
		return false
	}
	r.Bytes += uint64(len(resp.Body()))
	if id == nil {
		return true
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body(), &v); err != nil || v.ID == "" {
		r.invalid(fmt.Errorf("POST %s: %d without an id: %s", path, resp.StatusCode(), clip(resp.Body(), 200)))
		return false
	}
	*id = v.ID
	return true
}

// invalid counts a failure that is neither a transport failure nor a non-2xx
// answer, such as a 2xx the next write cannot use.
func (r *loadResult) invalid(err error) {
	r.Errors++
	if r.FirstError == "" {
		r.FirstError = err.Error()
	}
}
