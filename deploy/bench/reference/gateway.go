package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// gateway holds the upstream client and addresses the handlers share.
type gateway struct {
	client                           *http.Client
	productURL, orderURL, paymentURL string
}

// newGateway returns a gateway whose client keeps enough idle connections
// per upstream for make bench's connections (64 by default, each order
// page making two concurrent calls): net/http keeps only two by default,
// and a load test would then open and close connections all along.
func newGateway(cfg config) *gateway {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	return &gateway{
		client:     &http.Client{Transport: transport, Timeout: 5 * time.Second},
		productURL: cfg.ProductURL,
		orderURL:   cfg.OrderURL,
		paymentURL: cfg.PaymentURL,
	}
}

// newApp routes the two endpoints to g.
func newApp(g *gateway) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/orders/:id", g.order)
	app.Get("/products/:id", g.product)
	return app
}

// order answers the order with its products and its payment. The products
// and the payment depend only on the order, so they are read concurrently,
// one goroutine each.
func (g *gateway) order(c *fiber.Ctx) error {
	ctx := c.UserContext()
	// The URL is a new string: nothing read from c enters the goroutines.
	var order map[string]any
	if err := g.get(ctx, g.orderURL+"/orders/"+url.PathEscape(c.Params("id")), &order); err != nil {
		return badGateway(err)
	}
	paymentID, _ := order["payment_id"].(string)
	var (
		wg                     sync.WaitGroup
		products               = []any{}
		payment                map[string]any
		productErr, paymentErr error
	)
	if ids := productIDs(order); ids != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch struct {
				Items []any `json:"items"`
			}
			productErr = g.get(ctx, g.productURL+"/products?ids="+ids, &batch)
			products = batch.Items
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		paymentErr = g.get(ctx, g.paymentURL+"/payments/"+url.PathEscape(paymentID), &payment)
	}()
	wg.Wait()
	if err := errors.Join(productErr, paymentErr); err != nil {
		return badGateway(err)
	}
	return c.JSON(fiber.Map{"order": order, "products": products, "payment": payment})
}

// productIDs lists the product ids of an order's items, comma-separated.
func productIDs(order map[string]any) string {
	items, _ := order["items"].([]any)
	ids := make([]string, 0, len(items))
	for _, it := range items {
		line, _ := it.(map[string]any)
		if id, ok := line["product_id"].(float64); ok {
			ids = append(ids, strconv.FormatInt(int64(id), 10))
		}
	}
	return strings.Join(ids, ",")
}

// product answers a product's id, name, price, stock and first image.
func (g *gateway) product(c *fiber.Ctx) error {
	var p map[string]any
	if err := g.get(c.UserContext(), g.productURL+"/products/"+url.PathEscape(c.Params("id")), &p); err != nil {
		return badGateway(err)
	}
	view := fiber.Map{"id": p["id"], "name": p["name"], "price": p["price"], "stock": p["stock"]}
	if images, _ := p["images"].([]any); len(images) > 0 {
		view["image"] = images[0]
	}
	return c.JSON(view)
}

// get reads a JSON answer of url into out, failing on any status but 200.
// The body is read to the end so that the connection goes back to the pool.
func (g *gateway) get(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}

// badGateway is a plain 502 naming what failed.
func badGateway(err error) error {
	return fiber.NewError(fiber.StatusBadGateway, "bad gateway: "+err.Error())
}
