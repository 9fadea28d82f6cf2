// Package product is the client of the product service: the catalog, read
// one product, a batch or a page at a time, and the stock reservations the
// order flow holds, commits and releases.
package product

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"storefront.dev/shared/upstream"
)

// MaxBatch is the most ids one GET /products?ids= takes; GetMany splits
// longer lists.
const MaxBatch = 100

// Client calls the product service: the catalog and stock reservations.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Get returns one product. Get, GetMany and List answer a product that
// cannot be shown or sold as it came (see checked) as an error of
// KindUnknown, and mend what is only shown.
func (c *Client) Get(ctx context.Context, id int64) (Product, error) {
	p, err := upstream.Get[Product](ctx, c.s, "get", "/products/"+strconv.FormatInt(id, 10))
	if err != nil {
		return p, err
	}
	if p, err = checked(p); err != nil {
		return Product{}, c.failing("get", err)
	}
	return p, nil
}

// failing is the error of an answer of op holding a product the client
// cannot show or sell (see checked): the service failing, KindUnknown.
func (c *Client) failing(op string, err error) error {
	return upstream.Unusable(c.s.Name(), op, err)
}

// GetMany returns the products with ids, in the order asked, and the ids the
// catalog does not hold. Lists longer than MaxBatch are fetched in
// concurrent chunks and merged.
func (c *Client) GetMany(ctx context.Context, ids []int64) (Batch, error) {
	if len(ids) == 0 {
		return Batch{Items: []Product{}}, nil
	}
	if len(ids) <= MaxBatch {
		return c.batch(ctx, ids)
	}
	chunks := make([]Batch, (len(ids)+MaxBatch-1)/MaxBatch)
	g, gctx := errgroup.WithContext(ctx)
	for i := range chunks {
		part := ids[i*MaxBatch : min((i+1)*MaxBatch, len(ids))]
		g.Go(func() error {
			b, err := c.batch(gctx, part)
			chunks[i] = b
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Batch{}, err
	}
	out := Batch{Items: make([]Product, 0, len(ids))}
	for _, b := range chunks {
		out.Items = append(out.Items, b.Items...)
		out.Missing = append(out.Missing, b.Missing...)
	}
	return out, nil
}

func (c *Client) batch(ctx context.Context, ids []int64) (Batch, error) {
	var sb strings.Builder
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(id, 10))
	}
	b, err := upstream.Send[Batch](ctx, c.s, upstream.Call{Op: "get_many", Method: http.MethodGet, Path: "/products", Query: url.Values{"ids": {sb.String()}}})
	if err != nil {
		return b, err
	}
	if err := checkAll(b.Items); err != nil {
		return Batch{}, c.failing("get_many", err)
	}
	return b, nil
}

// List returns one page of the catalog, optionally of one category.
func (c *Client) List(ctx context.Context, p ListParams) (Page, error) {
	q := url.Values{}
	if p.Category != "" {
		q.Set("category", p.Category)
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	page, err := upstream.Send[Page](ctx, c.s, upstream.Call{Op: "list", Method: http.MethodGet, Path: "/products", Query: q})
	if err != nil {
		return page, err
	}
	if err := checkAll(page.Items); err != nil {
		return Page{}, c.failing("list", err)
	}
	return page, nil
}

// Reserve holds stock for every line or for none. A shortage is an
// *upstream.Error of KindOutOfStock listing the unavailable lines. The
// request's Reference makes it idempotent.
func (c *Client) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	return upstream.Post[Reservation](ctx, c.s, "reserve", "/reservations", r)
}

// CommitReservation turns a reservation's units into sold ones.
func (c *Client) CommitReservation(ctx context.Context, id string) (Reservation, error) {
	return upstream.Transition[Reservation](ctx, c.s, "/reservations", id, "commit")
}

// ReleaseReservation returns a reservation's units to stock. Releasing an
// expired reservation succeeds with status expired.
func (c *Client) ReleaseReservation(ctx context.Context, id string) (Reservation, error) {
	return upstream.Send[Reservation](ctx, c.s, upstream.Call{Op: "release", Method: http.MethodDelete, Path: "/reservations/" + url.PathEscape(id), AnswerOptional: true})
}

// ReservationByReference finds the reservation made with ref, to learn the
// outcome of a Reserve whose answer was lost.
func (c *Client) ReservationByReference(ctx context.Context, ref string) (Reservation, error) {
	return upstream.ByReference[Reservation](ctx, c.s, "/reservations", ref)
}
