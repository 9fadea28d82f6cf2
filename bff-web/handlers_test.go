package main

import (
	"context"
	"reflect"
	"testing"

	"storefront.dev/shared/aggregate"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
)

// halfReadLister answers every list with page and err together, as a
// lister that hands back what it decoded before failing would.
type halfReadLister struct {
	page order.Page
	err  error
}

func (l halfReadLister) List(context.Context, string, string, int) (order.Page, error) {
	return l.page, l.err
}

// TestHistoryKeepsNothingOfAFailedList: whatever a lister returns along
// with its error, the history shows no row of it, neither the caller's nor
// another user's: the part is left out as failed.
func TestHistoryKeepsNothingOfAFailedList(t *testing.T) {
	lister := halfReadLister{
		page: order.Page{Items: []order.Order{{ID: "ord_ada_1", UserID: "usr_ada"}, {ID: "ord_grace_1", UserID: "usr_grace"}}},
		err:  &upstream.Error{Service: "order", Op: "list", Kind: upstream.KindUnknown},
	}
	var h history
	degraded, err := aggregate.New(nil).Run(context.Background(),
		h.part(aggregate.Optional, lister, nil, "usr_ada", httpserver.Page{Limit: recentOrderCount}))
	if err != nil {
		t.Fatal(err)
	}
	if rows := h.rows(); len(rows) != 0 || !reflect.DeepEqual(degraded, []string{"orders"}) {
		t.Errorf("got rows %+v, degraded %v; want none, degraded [orders]", rows, degraded)
	}
}
