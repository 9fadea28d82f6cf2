package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest/contract"
	"storefront.dev/shared/money"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// recoveredPlacer answers every order with res, as the flow answers a
// checkout it recovered after a crash.
type recoveredPlacer struct{ res orderflow.Result }

func (p recoveredPlacer) PlaceReceived(context.Context, orderflow.Received, orderflow.KeyPolicy) (orderflow.Result, error) {
	return p.res, nil
}

// TestRecoveredOrderCreated: the 201 of a checkout recovered after a crash,
// whose payment could not be read back, sends no payment it cannot show
// (saying so in degraded): it stays within the document. (The flow itself
// gives a recovered order its status: TestPlaceReplaysALegacyResultAsConfirmed.)
func TestRecoveredOrderCreated(t *testing.T) {
	doc, err := contract.Load(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	full := order.Order{ID: "ord_1", UserID: "usr_ada", Status: order.StatusConfirmed, Total: eur(1999),
		Items: []order.Line{{ProductID: 1, Name: "Mug", Quantity: 1, UnitPrice: eur(1999)}}}
	card := payment.Method{Type: "card", Brand: "visa", Last4: "4242"}
	tests := []struct {
		name         string
		res          orderflow.Result
		wantPayment  bool
		wantDegraded []string
	}{
		{"read back", orderflow.Result{Order: full, Payment: payment.Payment{ID: "pay_1", Status: payment.StatusCaptured, Method: card}}, true, nil},
		{"payment known by its id", orderflow.Result{Order: full, Payment: payment.Payment{ID: "pay_1"}}, false, []string{"payment"}},
		{"payment without its card", orderflow.Result{Order: full, Payment: payment.Payment{ID: "pay_1", Status: payment.StatusCaptured}}, false, []string{"payment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Post("/api/orders", func(c *fiber.Ctx) error {
				httpserver.SetUser(c, "usr_ada")
				c.Set(httpserver.HeaderRequestID, "req-1")
				return c.Next()
			}, handlePlaceOrder(recoveredPlacer{tt.res}))
			body, _ := json.Marshal(orderBody("tok_visa", line(1, 1)))
			req := httptest.NewRequest(http.MethodPost, "/api/orders", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d, body %s", resp.StatusCode, got)
			}
			sent := httptest.NewRequest(http.MethodPost, "http://bff.test/api/orders", bytes.NewReader(body))
			sent.Header.Set("Content-Type", "application/json")
			sent.Header.Set("Authorization", "Bearer token")
			if err := doc.Check(sent, resp.StatusCode, resp.Header, got); err != nil {
				t.Errorf("the 201 breaks the document: %v\n%s", err, got)
			}
			var v orderView
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatal(err)
			}
			if v.Status != order.StatusConfirmed || (v.Payment != nil) != tt.wantPayment || !slices.Equal(v.Degraded, tt.wantDegraded) {
				t.Errorf("status %q, payment %+v, degraded %v; want confirmed, payment %v, degraded %v", v.Status, v.Payment, v.Degraded, tt.wantPayment, tt.wantDegraded)
			}
		})
	}
}

func eur(minor int64) money.Money { return money.New(minor, "EUR") }
