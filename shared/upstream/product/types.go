package product

import (
	"time"

	"storefront.dev/shared/money"
)

// Product is the product service's representation of a catalog entry.
type Product struct {
	ID          int64             `json:"id"`
	SKU         string            `json:"sku"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Brand       string            `json:"brand"`
	Price       money.Money       `json:"price"`
	Images      []Image           `json:"images"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Rating      float64           `json:"rating"`
	// Stock is the number of units available to reserve now.
	Stock     int       `json:"stock"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Image is one product picture.
type Image struct {
	URL    string `json:"url"`
	Alt    string `json:"alt"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Kind is "main", "thumbnail" or "gallery".
	Kind string `json:"kind"`
}

// Page is one page of a catalog listing.
type Page struct {
	Items []Product `json:"items"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Batch is the answer of GET /products?ids=: the products found, and the ids
// that are not in the catalog.
type Batch struct {
	Items   []Product `json:"items"`
	Missing []int64   `json:"missing,omitempty"`
}

// ListParams filters and pages GET /products.
type ListParams struct {
	// Category filters by category; empty lists every product.
	Category string
	// Cursor is the NextCursor of the previous page; empty starts at the top.
	Cursor string
	// Limit is the page size; 0 takes the service default (20), max 100.
	Limit int
}

// Line is one product and quantity of a reservation.
type Line struct {
	ProductID int64 `json:"product_id"`
	Quantity  int   `json:"quantity"`
}

// ReserveRequest is the body of POST /reservations. Reference makes the call
// idempotent: the same reference twice returns the first result.
type ReserveRequest struct {
	Reference string `json:"reference"`
	Items     []Line `json:"items"`
	// TTLSeconds overrides the service's reservation TTL when positive.
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// Reservation statuses.
const (
	ReservationActive    = "active"
	ReservationCommitted = "committed"
	ReservationReleased  = "released"
	ReservationExpired   = "expired"
)

// Reservation holds stock for a while. Active reservations expire at ExpiresAt
// unless committed; releasing or expiring returns the units to stock.
type Reservation struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Status    string    `json:"status"`
	Items     []Line    `json:"items"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}
