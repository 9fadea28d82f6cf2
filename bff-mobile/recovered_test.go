package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest/contract"
	"storefront.dev/shared/money"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/upstream/order"
)

// recoveredPlacer answers every order with res, as the flow answers a
// checkout it recovered after a crash.
type recoveredPlacer struct{ res orderflow.Result }

func (p recoveredPlacer) PlaceReceived(context.Context, orderflow.Received, orderflow.KeyPolicy) (orderflow.Result, error) {
	return p.res, nil
}

// TestRecoveredOrderCreated: the 201 of a checkout recovered after a crash,
// whose order could not be read back (the flow answers it from its journal:
// TestPlaceReplaysALegacyResultAsConfirmed), stays within the document.
func TestRecoveredOrderCreated(t *testing.T) {
	doc, err := contract.Load(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []order.Order{
		{ID: "ord_1", Status: order.StatusConfirmed, Total: money.New(1999, "EUR")},
	} {
		app := fiber.New()
		app.Post("/v1/orders", func(c *fiber.Ctx) error {
			httpserver.SetUser(c, "usr_ada")
			c.Set(httpserver.HeaderRequestID, "req-1")
			return c.Next()
		}, handlePlaceOrder(recoveredPlacer{orderflow.Result{Order: o}}))
		body, _ := json.Marshal(orderBody("tok_visa", line(1, 1)))
		send := func(url string) *http.Request {
			req := httptest.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer token")
			req.Header.Set(httpserver.HeaderIdempotencyKey, "key-1")
			return req
		}
		resp, err := app.Test(send("/v1/orders"), -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d, body %s", resp.StatusCode, got)
		}
		if err := doc.Check(send("http://bff.test/v1/orders"), resp.StatusCode, resp.Header, got); err != nil {
			t.Errorf("order of status %q: the 201 breaks the document: %v\n%s", o.Status, err, got)
		}
		var v orderView
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatal(err)
		}
		if v.Status != order.StatusConfirmed {
			t.Errorf("order of status %q: the 201 says %q, want confirmed", o.Status, v.Status)
		}
	}
}
