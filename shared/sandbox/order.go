package sandbox

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"storefront.dev/shared/upstream/order"
)

// OrderState is the order service's state, as GET /__admin/state returns it.
type OrderState struct {
	Orders []order.Order `json:"orders"`
	// Requests counts non-admin requests by route pattern.
	Requests map[string]int `json:"requests"`
}

type orderService struct {
	*service

	// Guarded by service.mu.
	orders table[order.Order]
	byUser map[string][]string
	// moves is the sequence of the last move (reassign) of each order
	// moved, by order id.
	moves map[string]int
}

func newOrderService(now func() time.Time, cfg Config) *orderService {
	o := &orderService{service: newService(ServiceOrder, now, cfg.Seed), orders: newTable[order.Order]("order", "ord")}
	o.setup(o.seedState, func() any { return o.state() })

	o.handle(RouteCreateOrder, o.create)
	o.handle(RouteOrder, o.orders.get)
	o.handle(RouteOrderByReference, o.orders.getByReference)
	o.handle(RouteOrders, o.listOrders)
	o.handle(RouteConfirm, o.confirm)
	o.handle(RouteCancel, o.cancel)
	o.handle(RouteReassign, o.reassign)
	return o
}

func (o *orderService) seedState() {
	o.orders.reset()
	o.byUser = map[string][]string{}
	o.moves = map[string]int{}
}

func (o *orderService) state() OrderState {
	var st OrderState
	o.withState(func() { st.Orders = o.orders.list(copyOrder) })
	st.Requests = o.counters()
	return st
}

func copyOrder(ord *order.Order) order.Order {
	c := *ord
	c.Items = slices.Clone(ord.Items)
	if ord.ShippingAddress != nil {
		a := *ord.ShippingAddress
		c.ShippingAddress = &a
	}
	return c
}

func (o *orderService) create(_ *http.Request, body []byte) (int, any, error) {
	var req order.CreateRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if err := o.orders.claim(req.Reference); err != nil {
		return 0, nil, err
	}
	if err := validOrder(&req); err != nil {
		return 0, nil, err
	}

	now := o.now()
	ord := &order.Order{
		ID:              o.orders.nextID(),
		Reference:       req.Reference,
		UserID:          req.UserID,
		Status:          order.StatusPending,
		Items:           slices.Clone(req.Items),
		Total:           req.Total,
		PaymentID:       req.PaymentID,
		ReservationID:   req.ReservationID,
		ShippingAddress: req.ShippingAddress,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	o.orders.add(ord.ID, ord.Reference, ord)
	o.byUser[ord.UserID] = append(o.byUser[ord.UserID], ord.ID)
	return http.StatusCreated, ord, nil
}

// validOrder checks a create request, ending with the total: it must be the
// sum of the lines, all in its currency.
func validOrder(req *order.CreateRequest) error {
	if strings.TrimSpace(req.UserID) == "" {
		return invalid("user_id is required")
	}
	if len(req.Items) == 0 || len(req.Items) > maxLines {
		return invalid("items must have 1 to %d lines, got %d", maxLines, len(req.Items))
	}
	for i, l := range req.Items {
		if l.ProductID < 1 {
			return invalid("items[%d].product_id must be a positive integer, got %d", i, l.ProductID)
		}
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			return invalid("items[%d].quantity must be 1 to %d, got %d", i, maxQuantity, l.Quantity)
		}
		if err := validAmount(fmt.Sprintf("items[%d].unit_price", i), l.UnitPrice, true); err != nil {
			return err
		}
	}
	if err := validAmount("total", req.Total, true); err != nil {
		return err
	}
	if a := req.ShippingAddress; a != nil {
		if a.Name == "" || a.Line1 == "" || a.City == "" || a.PostalCode == "" || len(a.Country) != 2 {
			return invalid("shipping_address needs name, line1, city, postal_code and a two-letter country")
		}
	}
	var sum int64
	for i, l := range req.Items {
		if l.UnitPrice.Currency != req.Total.Currency {
			return fail(http.StatusUnprocessableEntity, "total_mismatch",
				"items[%d] is priced in %s but the total is in %s", i, l.UnitPrice.Currency, req.Total.Currency)
		}
		sum += l.UnitPrice.Amount * int64(l.Quantity)
	}
	if sum != req.Total.Amount {
		return fail(http.StatusUnprocessableEntity, "total_mismatch",
			"total is %d but the lines add up to %d %s", req.Total.Amount, sum, req.Total.Currency)
	}
	return nil
}

// confirm marks a pending order confirmed. Its body, optional, names the
// payment and the reservation of an order created before either existed;
// an order that names others already refuses (409 order_mismatch), and
// confirming a confirmed order again with the same ones changes nothing.
func (o *orderService) confirm(r *http.Request, body []byte) (int, any, error) {
	var req order.ConfirmRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return 0, nil, err
		}
	}
	ord, err := o.orders.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if ord.Status == order.StatusCancelled {
		return 0, nil, conflict("order_cancelled", "order %s is cancelled", ord.ID)
	}
	for _, f := range []struct{ name, has, given string }{
		{"payment_id", ord.PaymentID, req.PaymentID},
		{"reservation_id", ord.ReservationID, req.ReservationID},
	} {
		if f.given != "" && f.has != "" && f.given != f.has {
			return 0, nil, conflict("order_mismatch", "order %s has %s %s, not %s", ord.ID, f.name, f.has, f.given)
		}
	}
	if ord.Status == order.StatusPending {
		ord.PaymentID = cmp.Or(ord.PaymentID, req.PaymentID)
		ord.ReservationID = cmp.Or(ord.ReservationID, req.ReservationID)
		ord.Status = order.StatusConfirmed
		ord.UpdatedAt = o.now()
	}
	return http.StatusOK, ord, nil
}

// reassign names the reservation that holds a live order's units, for an
// order whose first reservation expired and was made again. Each move
// carries a sequence, the number of the reservation it moves to, which
// grows with each reservation made again: a move is applied only when its
// sequence is above the last move's, so that a move sent long before and
// landing late cannot take the order back from a later reservation. The
// same move twice changes nothing; another with the same sequence is a
// conflict. A move without a sequence, from a client of before sequences,
// is applied as it was then, unfenced, so that such a client's recovery
// does not fail during an upgrade.
func (o *orderService) reassign(r *http.Request, body []byte) (int, any, error) {
	var req order.ReassignRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if req.ReservationID == "" || req.Sequence < 0 {
		return 0, nil, invalid("reservation_id is required, and a sequence may not be negative")
	}
	ord, err := o.orders.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if ord.Status == order.StatusCancelled {
		return 0, nil, conflict("order_cancelled", "order %s is cancelled", ord.ID)
	}
	switch last := o.moves[ord.ID]; {
	case req.Sequence == 0: // unfenced
	case req.Sequence < last:
		return 0, nil, conflict("reservation_superseded", "order %s was moved by a later move (%d) than %d", ord.ID, last, req.Sequence)
	case req.Sequence == last && req.ReservationID != ord.ReservationID:
		return 0, nil, conflict("order_mismatch", "order %s has reservation_id %s for move %d, not %s", ord.ID, ord.ReservationID, last, req.ReservationID)
	default:
		o.moves[ord.ID] = req.Sequence
	}
	if ord.ReservationID != req.ReservationID {
		ord.ReservationID = req.ReservationID
		ord.UpdatedAt = o.now()
	}
	return http.StatusOK, ord, nil
}

func (o *orderService) cancel(r *http.Request, _ []byte) (int, any, error) {
	ord, err := o.orders.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if ord.Status != order.StatusCancelled {
		ord.Status = order.StatusCancelled
		ord.UpdatedAt = o.now()
	}
	return http.StatusOK, ord, nil
}

// orderCursor is a position in a user's orders, newest first: the page
// continues with orders strictly older than (at, id).
type orderCursor struct {
	at time.Time
	id string
}

const orderCursorPrefix = "o1:"

func (c orderCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(orderCursorPrefix + strconv.FormatInt(c.at.UnixNano(), 10) + ":" + c.id))
}

func decodeOrderCursor(s string) (orderCursor, bool, error) {
	if s == "" {
		return orderCursor{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), orderCursorPrefix); ok {
			if nanos, id, ok := strings.Cut(rest, ":"); ok && id != "" {
				if n, err := strconv.ParseInt(nanos, 10, 64); err == nil {
					return orderCursor{at: time.Unix(0, n), id: id}, true, nil
				}
			}
		}
	}
	return orderCursor{}, false, invalid("cursor %q is not a cursor this service issued", s)
}

// compareNewest orders a user's orders newest first, ties by id with the
// later id first. Ids compare by length first so that ord_1000000 follows
// ord_999999.
func compareNewest(atA time.Time, idA string, atB time.Time, idB string) int {
	if c := atB.Compare(atA); c != 0 {
		return c
	}
	if c := len(idB) - len(idA); c != 0 {
		return c
	}
	return strings.Compare(idB, idA)
}

func (o *orderService) listOrders(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	userID := q.Get("user_id")
	if userID == "" {
		return 0, nil, invalid("user_id is required")
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return 0, nil, err
	}
	cur, hasCursor, err := decodeOrderCursor(q.Get("cursor"))
	if err != nil {
		return 0, nil, err
	}
	mine := make([]*order.Order, 0, len(o.byUser[userID]))
	for _, id := range o.byUser[userID] {
		mine = append(mine, o.orders.byID[id])
	}
	slices.SortFunc(mine, func(a, b *order.Order) int {
		return compareNewest(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
	})
	page := order.Page{Items: []order.Order{}}
	for _, ord := range mine {
		if hasCursor && compareNewest(ord.CreatedAt, ord.ID, cur.at, cur.id) <= 0 {
			continue
		}
		if len(page.Items) == limit {
			last := page.Items[limit-1]
			page.NextCursor = orderCursor{at: last.CreatedAt, id: last.ID}.encode()
			break
		}
		page.Items = append(page.Items, *ord)
	}
	return http.StatusOK, page, nil
}
