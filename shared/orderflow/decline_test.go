package orderflow

import (
	"strings"
	"testing"

	"storefront.dev/shared/upstream"
)

// TestDeclinedReason: the buyer's 402 passes on a provider's decline code
// and nothing else the payment service wrote.
func TestDeclinedReason(t *testing.T) {
	tests := []struct{ given, want string }{
		{"insufficient_funds", "insufficient_funds"},
		{"expired_card", "expired_card"},
		{"", "card_declined"},
		{"Card declined: call +1 555 0100, ref 9F2A", "card_declined"},
		{"<script>alert(1)</script>", "card_declined"},
		{strings.Repeat("a", 65), "card_declined"},
	}
	for _, tt := range tests {
		pe := declined(&upstream.Error{Kind: upstream.KindDeclined, DeclineReason: tt.given})
		if got := pe.Extensions["reason"]; got != tt.want {
			t.Errorf("decline reason %q: answered reason %v, want %q", tt.given, got, tt.want)
		}
	}
}
