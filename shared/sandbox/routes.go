package sandbox

// The route patterns the services serve to clients, as ServeMux patterns.
// They are the keys of the per-route request counters and what a Fault's
// Route names. The /__admin routes are not among them.
const (
	// RouteProduct reads one product.
	RouteProduct = "GET /products/{id}"
	// RouteProducts lists products by category, or reads a batch of them by
	// their ids.
	RouteProducts = "GET /products"
	// RouteReserve reserves stock.
	RouteReserve = "POST /reservations"
	// RouteReservation reads one reservation.
	RouteReservation = "GET /reservations/{id}"
	// RouteReservationByReference reads the reservation made with a
	// reference.
	RouteReservationByReference = "GET /reservations/by-reference/{reference}"
	// RouteCommit commits a reservation, taking its units for good.
	RouteCommit = "POST /reservations/{id}/commit"
	// RouteRelease releases a reservation, returning its units to stock.
	RouteRelease = "DELETE /reservations/{id}"

	// RouteCreateOrder creates an order.
	RouteCreateOrder = "POST /orders"
	// RouteOrder reads one order.
	RouteOrder = "GET /orders/{id}"
	// RouteOrderByReference reads the order made with a reference.
	RouteOrderByReference = "GET /orders/by-reference/{reference}"
	// RouteOrders lists a user's orders.
	RouteOrders = "GET /orders"
	// RouteConfirm confirms an order.
	RouteConfirm = "POST /orders/{id}/confirm"
	// RouteCancel cancels an order.
	RouteCancel = "POST /orders/{id}/cancel"
	// RouteReassign names the reservation that holds an order's units.
	RouteReassign = "PUT /orders/{id}/reservation"

	// RouteAuthorize authorizes a payment, placing a hold.
	RouteAuthorize = "POST /payments"
	// RoutePayment reads one payment.
	RoutePayment = "GET /payments/{id}"
	// RoutePaymentByReference reads the payment made with a reference.
	RoutePaymentByReference = "GET /payments/by-reference/{reference}"
	// RouteCapture captures an authorized payment.
	RouteCapture = "POST /payments/{id}/capture"
	// RouteVoid voids an authorized payment, releasing its hold.
	RouteVoid = "POST /payments/{id}/void"
	// RouteRefund refunds a captured payment.
	RouteRefund = "POST /payments/{id}/refund"

	// RouteIssueToken logs a user in, issuing an access and a refresh token.
	RouteIssueToken = "POST /auth/token"
	// RouteRefreshToken trades a refresh token for new tokens.
	RouteRefreshToken = "POST /auth/refresh"
	// RouteRevokeToken revokes a refresh token's family.
	RouteRevokeToken = "POST /auth/revoke"
	// RouteJWKS serves the keys that verify access tokens.
	RouteJWKS = "GET /.well-known/jwks.json"
	// RouteUser reads one user.
	RouteUser = "GET /users/{id}"

	// RouteNotify sends a notification.
	RouteNotify = "POST /notifications"
)

// Endpoint is one route of one service.
type Endpoint struct {
	// Service is the service's name, one of Services.
	Service string
	// Route is the route's pattern, one of the Route constants.
	Route string
}

// CheckoutWrites returns the six upstream writes one checkout makes, in the
// order a checkout making them one after another would: reserve, authorize,
// create the order, capture, confirm, commit, each needing the ids of those
// before it. The slice is new on each call.
func CheckoutWrites() []Endpoint {
	return []Endpoint{
		{ServiceProduct, RouteReserve},
		{ServicePayment, RouteAuthorize},
		{ServiceOrder, RouteCreateOrder},
		{ServicePayment, RouteCapture},
		{ServiceOrder, RouteConfirm},
		{ServiceProduct, RouteCommit},
	}
}
