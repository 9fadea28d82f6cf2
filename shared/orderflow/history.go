package orderflow

import (
	"context"

	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
)

// OrderLister reads a page of a user's orders from the order service,
// newest first, at most limit of them, after cursor.
type OrderLister interface {
	List(ctx context.Context, userID, cursor string, limit int) (order.Page, error)
}

// historyReads bounds the pages of the order service one page of a buyer's
// history reads: a history page that is still short after them ends there,
// with the cursor of the next, so that a run of checkouts that placed
// nothing costs each page a bounded number of calls.
const historyReads = 3

// History reads a page of the orders userID placed, newest first, at most
// limit of them (limit ≥ 1), after the order service's cursor: the orders
// the service lists, less those no checkout placed (see Placed) and those
// of another user (order.Owned), which foreign counts. Orders left out are
// made up for by reading on, up to historyReads pages, so that the page is
// short only where the history ends (no NextCursor), or where the reads ran
// out or one after the first failed: its NextCursor then points after the
// last page read, and the next page goes on from there.
func History(ctx context.Context, orders OrderLister, userID, cursor string, limit int) (page order.Page, foreign int, err error) {
	page.Items = make([]order.Order, 0, limit)
	for read := range historyReads {
		got, err := orders.List(ctx, userID, cursor, limit-len(page.Items))
		if err != nil && read == 0 {
			return order.Page{}, foreign, err
		}
		if err != nil {
			// The pages read so far end where the failed one began.
			break
		}
		own, left := order.Owned(got.Items, userID)
		foreign += left
		for _, o := range own {
			if Placed(o) {
				page.Items = append(page.Items, o)
			}
		}
		page.NextCursor, cursor = got.NextCursor, got.NextCursor
		if cursor == "" || len(page.Items) >= limit {
			break
		}
	}
	return page, foreign, nil
}

// Placed reports whether a checkout placed o: whether o is not an order
// cancelled before it was confirmed. A checkout creates its order beside
// the reservation and the payment hold, pending and naming neither, and
// confirms it with their ids once both succeeded; a declined card, a line
// out of stock or an undone checkout cancels it unconfirmed, naming no
// payment. Such an order is no purchase of the buyer's, and no row of
// their history. An order cancelled once confirmed names its payment, and
// is one.
func Placed(o order.Order) bool {
	return o.Status != order.StatusCancelled || o.PaymentID != ""
}

// CheckPlaced returns nil when userID placed o (see Placed) and o's status
// is one the documents know (order.CheckStatus), for a read of one order.
// An order of another user, or one its checkout cancelled before
// confirming it, is the error of a missing order (KindNotFound): that
// checkout was refused or undone, its answer said no order was placed,
// and the lists leave the order out.
func CheckPlaced(o order.Order, userID string) error {
	if err := o.CheckOwner(userID); err != nil {
		return err
	}
	if !Placed(o) {
		return &upstream.Error{Service: "order", Op: "get", Kind: upstream.KindNotFound, Detail: "the order was cancelled before it was placed"}
	}
	return o.CheckStatus()
}
