package order_test

import (
	"testing"

	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
)

// TestCheckOwner: only the user who placed an order sees it; anyone else
// gets the error of a missing order.
func TestCheckOwner(t *testing.T) {
	o := order.Order{ID: "o-1", UserID: "u-ada"}
	tests := []struct {
		name   string
		caller string
		want   upstream.Kind
	}{
		{"the owner", "u-ada", upstream.KindUnknown},
		{"another user", "u-grace", upstream.KindNotFound},
		{"no user", "", upstream.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := o.CheckOwner(tt.caller)
			if got := upstream.KindOf(err); got != tt.want || (err == nil) != (tt.want == upstream.KindUnknown) {
				t.Errorf("got %v (kind %v), want kind %v", err, got, tt.want)
			}
		})
	}
}
