package main

import (
	"slices"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
)

// sessionView is the answer of POST /api/session.
type sessionView struct {
	User      profileView `json:"user"`
	CSRFToken string      `json:"csrf_token"`
	ExpiresAt time.Time   `json:"expires_at"`
}

type profileView struct {
	ID          string           `json:"id"`
	Email       string           `json:"email"`
	Name        string           `json:"name"`
	Addresses   []user.Address   `json:"addresses"`
	Preferences user.Preferences `json:"preferences"`
}

func newProfileView(u user.User) profileView {
	addrs := u.Addresses
	if addrs == nil {
		addrs = []user.Address{}
	}
	return profileView{ID: u.ID, Email: u.Email, Name: u.Name, Addresses: addrs, Preferences: u.Preferences}
}

type imageView struct {
	URL string `json:"url"`
	Alt string `json:"alt"`
}

type lineView struct {
	ProductID int64       `json:"product_id"`
	Name      string      `json:"name"`
	Image     *imageView  `json:"image,omitempty"`
	Quantity  int         `json:"quantity"`
	UnitPrice money.Money `json:"unit_price"`
	LineTotal money.Money `json:"line_total"`
}

type paymentView struct {
	ID     string         `json:"id"`
	Status string         `json:"status"`
	Method payment.Method `json:"method"`
}

type totalsView struct {
	ItemCount int         `json:"item_count"`
	Subtotal  money.Money `json:"subtotal"`
	Shipping  money.Money `json:"shipping"`
	Total     money.Money `json:"total"`
}

// orderView is the order page: every line with its product's name, image
// and price, the payment, the shipping address and the totals. Parts whose
// upstream failed are left out and named in Degraded.
type orderView struct {
	ID              string         `json:"id"`
	Status          string         `json:"status"`
	CreatedAt       time.Time      `json:"created_at"`
	Lines           []lineView     `json:"lines"`
	Payment         *paymentView   `json:"payment,omitempty"`
	ShippingAddress *order.Address `json:"shipping_address,omitempty"`
	Totals          totalsView     `json:"totals"`
	Degraded        []string       `json:"degraded,omitempty"`
}

// newOrderView builds the order page. products may miss some or all lines
// (their images are then left out); pay may be nil. A payment known only
// by its id (a checkout recovered after a crash, whose payment could not be
// read back) is left out like one that could not be read, and the page
// says so in Degraded.
func newOrderView(o order.Order, products map[int64]product.Product, pay *payment.Summary) orderView {
	v := orderView{
		ID:              o.ID,
		Status:          o.Status,
		CreatedAt:       o.CreatedAt,
		Lines:           make([]lineView, 0, len(o.Items)),
		ShippingAddress: o.ShippingAddress,
		Totals:          totalsView{Total: o.Total, Shipping: money.New(0, o.Total.Currency)},
	}
	subtotal := money.New(0, o.Total.Currency)
	for _, l := range o.Items {
		lt := l.UnitPrice.Times(l.Quantity)
		subtotal.Amount += lt.Amount
		lv := lineView{ProductID: l.ProductID, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: lt}
		if p, ok := products[l.ProductID]; ok {
			lv.Image = imageOf(p.MainImage())
		}
		v.Totals.ItemCount += l.Quantity
		v.Lines = append(v.Lines, lv)
	}
	v.Totals.Subtotal = subtotal
	switch {
	case pay == nil:
	case shownPayment(*pay):
		v.Payment = &paymentView{ID: pay.ID, Status: pay.Status, Method: pay.Method}
	default:
		v.Degraded = []string{partPayment}
	}
	return v
}

// partPayment is the name of the order page's payment part.
const partPayment = "payment"

// shownPayment reports whether the page can show pay as the document
// describes it: an id, a status of its enum and the card's last four digits,
// exactly four ASCII digits. Anything else from the payment service is not
// shown, rather than passed on to a client that trusts the document.
func shownPayment(pay payment.Summary) bool {
	return pay.ID != "" && slices.Contains(shownPaymentStatuses, pay.Status) && fourDigits(pay.Method.Last4)
}

// shownPaymentStatuses is the document's enum of a payment's status.
var shownPaymentStatuses = []string{
	payment.StatusAuthorized, payment.StatusCaptured, payment.StatusVoided,
	payment.StatusRefunded, payment.StatusExpired, payment.StatusDeclined,
}

// fourDigits reports whether s is four ASCII digits.
func fourDigits(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// orderSummaryView is one row of the order history.
type orderSummaryView struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	CreatedAt  time.Time   `json:"created_at"`
	Total      money.Money `json:"total"`
	ItemCount  int         `json:"item_count"`
	Thumbnails []imageView `json:"thumbnails"`
}

type orderListView struct {
	Items      []orderSummaryView `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
	Degraded   []string           `json:"degraded,omitempty"`
}

// maxThumbnails bounds the pictures shown per history row.
const maxThumbnails = 4

func newOrderSummary(o order.Order, products map[int64]product.Product) orderSummaryView {
	s := orderSummaryView{ID: o.ID, Status: o.Status, CreatedAt: o.CreatedAt, Total: o.Total, Thumbnails: []imageView{}}
	for _, l := range o.Items {
		s.ItemCount += l.Quantity
		if p, ok := products[l.ProductID]; ok && len(s.Thumbnails) < maxThumbnails {
			if img := imageOf(p.Thumbnail()); img != nil {
				s.Thumbnails = append(s.Thumbnails, *img)
			}
		}
	}
	return s
}

// imageOf is the view of a product picture the product has (ok), else nil.
func imageOf(img product.Image, ok bool) *imageView {
	if !ok {
		return nil
	}
	return &imageView{URL: img.URL, Alt: img.Alt}
}
