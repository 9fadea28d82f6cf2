package sandbox

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
)

// Limits of the product service's inputs.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
	maxBatchIDs      = 100
	maxLines         = 100
	maxQuantity      = 1_000_000
	maxReferenceLen  = 255
	maxTTLSeconds    = 7 * 24 * 3600
)

// StockLevel is one product's stock accounting. Stock is conserved:
// Initial == Available + Reserved + Sold.
type StockLevel struct {
	ID        int64 `json:"id"`
	Initial   int   `json:"initial"`
	Available int   `json:"available"`
	Reserved  int   `json:"reserved"`
	Sold      int   `json:"sold"`
}

// ProductState is the product service's state, as GET /__admin/state
// returns it.
type ProductState struct {
	Products     []StockLevel          `json:"products"`
	Reservations []product.Reservation `json:"reservations"`
	// Requests counts non-admin requests by route pattern.
	Requests map[string]int `json:"requests"`
}

// catalogEntry is a product and its stock; p.Stock is the available count.
type catalogEntry struct {
	p        product.Product
	initial  int
	reserved int
	sold     int
}

type productService struct {
	*service
	ttl time.Duration

	// Guarded by service.mu.
	catalog      []*catalogEntry // index id-1
	reservations table[product.Reservation]
	active       map[string]struct{} // ids of active reservations, for expiry
}

func newProductService(now func() time.Time, cfg Config) *productService {
	p := &productService{
		service:      newService(ServiceProduct, now, cfg.Seed),
		ttl:          cfg.ReservationTTL,
		reservations: newTable[product.Reservation]("reservation", "res"),
	}
	p.expire = p.expireReservations
	p.setup(p.seedState, func() any { return p.state() })

	p.handle(RouteProduct, p.getProduct)
	p.handle(RouteProducts, p.listProducts)
	p.handle(RouteReserve, p.reserve)
	p.handle(RouteReservation, p.reservations.get)
	p.handle(RouteReservationByReference, p.reservations.getByReference)
	p.handle(RouteCommit, p.commit)
	p.handle(RouteRelease, p.release)
	p.mux.HandleFunc("PUT /__admin/products/{id}/stock", p.adminSetStock)
	return p
}

func (p *productService) seedState() {
	p.catalog = p.catalog[:0]
	for _, prod := range seedCatalog(p.now()) {
		p.catalog = append(p.catalog, &catalogEntry{p: prod, initial: prod.Stock})
	}
	p.reservations.reset()
	p.active = map[string]struct{}{}
}

// expireReservations returns the units of every active reservation past its
// expiry to stock. Expiry is lazy: it runs before every operation and read.
func (p *productService) expireReservations(now time.Time) {
	for id := range p.active {
		res := p.reservations.byID[id]
		if now.Before(res.ExpiresAt) {
			continue
		}
		res.Status = product.ReservationExpired
		delete(p.active, id)
		for _, l := range res.Items {
			e := p.catalog[l.ProductID-1]
			e.reserved -= l.Quantity
			e.p.Stock += l.Quantity
			e.p.UpdatedAt = now
		}
	}
}

func (p *productService) state() ProductState {
	var st ProductState
	p.withState(func() {
		st.Products = make([]StockLevel, len(p.catalog))
		for i, e := range p.catalog {
			st.Products[i] = e.level()
		}
		st.Reservations = p.reservations.list(copyReservation)
	})
	st.Requests = p.counters()
	return st
}

func (e *catalogEntry) level() StockLevel {
	return StockLevel{ID: e.p.ID, Initial: e.initial, Available: e.p.Stock, Reserved: e.reserved, Sold: e.sold}
}

func copyReservation(r *product.Reservation) product.Reservation {
	c := *r
	c.Items = slices.Clone(r.Items)
	return c
}

func (p *productService) lookup(id int64) (*catalogEntry, bool) {
	if id < 1 || id > int64(len(p.catalog)) {
		return nil, false
	}
	return p.catalog[id-1], true
}

func (p *productService) getProduct(r *http.Request, _ []byte) (int, any, error) {
	id, err := parseProductID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	e, ok := p.lookup(id)
	if !ok {
		return 0, nil, notFound("product %d does not exist", id)
	}
	return http.StatusOK, e.p, nil
}

func parseProductID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, invalid("product id must be a positive integer, got %q", s)
	}
	return id, nil
}

func (p *productService) listProducts(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	if q.Has("ids") {
		if q.Has("category") || q.Has("cursor") || q.Has("limit") {
			return 0, nil, invalid("ids cannot be combined with category, cursor or limit")
		}
		return p.batch(q.Get("ids"))
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return 0, nil, err
	}
	after, err := decodeProductCursor(q.Get("cursor"))
	if err != nil {
		return 0, nil, err
	}
	category := q.Get("category")
	page := product.Page{Items: []product.Product{}}
	for _, e := range p.catalog[min(after, int64(len(p.catalog))):] {
		if category != "" && e.p.Category != category {
			continue
		}
		if len(page.Items) == limit {
			page.NextCursor = encodeProductCursor(page.Items[limit-1].ID)
			break
		}
		page.Items = append(page.Items, e.p)
	}
	return http.StatusOK, page, nil
}

func (p *productService) batch(raw string) (int, any, error) {
	parts := strings.Split(raw, ",")
	if len(parts) > maxBatchIDs {
		return 0, nil, invalid("at most %d ids per request, got %d", maxBatchIDs, len(parts))
	}
	b := product.Batch{Items: []product.Product{}}
	seen := map[int64]bool{}
	for _, s := range parts {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || id < 1 {
			return 0, nil, invalid("ids must be comma-separated positive integers, got %q", s)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if e, ok := p.lookup(id); ok {
			b.Items = append(b.Items, e.p)
		} else {
			b.Missing = append(b.Missing, id)
		}
	}
	return http.StatusOK, b, nil
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, invalid("limit must be an integer from 1 to %d, got %q", maxPageLimit, s)
	}
	return n, nil
}

// Cursors are opaque to clients; inside they name the last item returned.
const productCursorPrefix = "p1:"

func encodeProductCursor(lastID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(productCursorPrefix + strconv.FormatInt(lastID, 10)))
}

func decodeProductCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), productCursorPrefix); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id >= 0 {
				return id, nil
			}
		}
	}
	return 0, invalid("cursor %q is not a cursor this service issued", s)
}

func (p *productService) reserve(_ *http.Request, body []byte) (int, any, error) {
	var req product.ReserveRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if err := p.reservations.claim(req.Reference); err != nil {
		return 0, nil, err
	}
	if len(req.Items) == 0 || len(req.Items) > maxLines {
		return 0, nil, invalid("items must have 1 to %d lines, got %d", maxLines, len(req.Items))
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > maxTTLSeconds {
		return 0, nil, invalid("ttl_seconds must be 0 to %d, got %d", maxTTLSeconds, req.TTLSeconds)
	}
	lines, err := p.mergeLines(req.Items)
	if err != nil {
		return 0, nil, err
	}
	var short []upstream.UnavailableLine
	for _, l := range lines {
		if avail := p.catalog[l.ProductID-1].p.Stock; l.Quantity > avail {
			short = append(short, upstream.UnavailableLine{ProductID: l.ProductID, Requested: l.Quantity, Available: avail})
		}
	}
	if len(short) > 0 {
		e := conflict(string(problem.CodeOutOfStock), "%d of %d lines cannot be reserved", len(short), len(lines))
		e.Unavailable = short
		return 0, nil, e
	}

	now := p.now()
	ttl := p.ttl
	if req.TTLSeconds > 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	for _, l := range lines {
		e := p.catalog[l.ProductID-1]
		e.p.Stock -= l.Quantity
		e.reserved += l.Quantity
		e.p.UpdatedAt = now
	}
	res := &product.Reservation{
		ID:        p.reservations.nextID(),
		Reference: req.Reference,
		Status:    product.ReservationActive,
		Items:     lines,
		ExpiresAt: now.Add(ttl),
		CreatedAt: now,
	}
	p.reservations.add(res.ID, res.Reference, res)
	p.active[res.ID] = struct{}{}
	return http.StatusCreated, res, nil
}

// mergeLines validates the lines and sums duplicates, keeping the order in
// which products first appear.
func (p *productService) mergeLines(items []product.Line) ([]product.Line, error) {
	var lines []product.Line
	index := map[int64]int{}
	var unknown []string
	for i, l := range items {
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			return nil, invalid("items[%d].quantity must be 1 to %d, got %d", i, maxQuantity, l.Quantity)
		}
		if _, ok := p.lookup(l.ProductID); !ok {
			unknown = append(unknown, strconv.FormatInt(l.ProductID, 10))
			continue
		}
		if j, ok := index[l.ProductID]; ok {
			lines[j].Quantity += l.Quantity
			if lines[j].Quantity > maxQuantity {
				return nil, invalid("product %d: total quantity exceeds %d", l.ProductID, maxQuantity)
			}
			continue
		}
		index[l.ProductID] = len(lines)
		lines = append(lines, l)
	}
	if len(unknown) > 0 {
		return nil, fail(http.StatusBadRequest, "unknown_product", "unknown product ids: %s", strings.Join(unknown, ", "))
	}
	return lines, nil
}

func validReference(ref string) error {
	if strings.TrimSpace(ref) == "" {
		return invalid("reference is required")
	}
	if len(ref) > maxReferenceLen {
		return invalid("reference must be at most %d bytes", maxReferenceLen)
	}
	return nil
}

func (p *productService) commit(r *http.Request, _ []byte) (int, any, error) {
	res, err := p.reservations.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch res.Status {
	case product.ReservationCommitted:
	case product.ReservationActive:
		now := p.now()
		for _, l := range res.Items {
			e := p.catalog[l.ProductID-1]
			e.reserved -= l.Quantity
			e.sold += l.Quantity
			e.p.UpdatedAt = now
		}
		res.Status = product.ReservationCommitted
		delete(p.active, res.ID)
	case product.ReservationExpired:
		return 0, nil, conflict("reservation_expired", "reservation %s expired at %s", res.ID, res.ExpiresAt.Format(time.RFC3339))
	case product.ReservationReleased:
		return 0, nil, conflict("reservation_released", "reservation %s was released", res.ID)
	}
	return http.StatusOK, res, nil
}

func (p *productService) release(r *http.Request, _ []byte) (int, any, error) {
	res, err := p.reservations.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	switch res.Status {
	case product.ReservationReleased, product.ReservationExpired:
		// Nothing is held any more, which is what the caller wants.
	case product.ReservationActive:
		now := p.now()
		for _, l := range res.Items {
			e := p.catalog[l.ProductID-1]
			e.reserved -= l.Quantity
			e.p.Stock += l.Quantity
			e.p.UpdatedAt = now
		}
		res.Status = product.ReservationReleased
		delete(p.active, res.ID)
	case product.ReservationCommitted:
		return 0, nil, conflict("reservation_committed", "reservation %s is committed; its units are sold", res.ID)
	}
	return http.StatusOK, res, nil
}

// setStock makes n the product's initial and available stock, forgetting
// what was sold, so that stock stays conserved from here on.
func (p *productService) setStock(id int64, n int) (StockLevel, error) {
	var lvl StockLevel
	var err error
	p.withState(func() {
		e, ok := p.lookup(id)
		switch {
		case !ok:
			err = notFound("product %d does not exist", id)
		case n < 0 || n > maxQuantity:
			err = invalid("stock must be 0 to %d, got %d", maxQuantity, n)
		case e.reserved > 0:
			err = conflict("stock_reserved", "product %d has %d reserved units; release them first", id, e.reserved)
		default:
			e.initial, e.p.Stock, e.sold = n, n, 0
			e.p.UpdatedAt = p.now()
			lvl = e.level()
		}
	})
	return lvl, err
}

func (p *productService) adminSetStock(w http.ResponseWriter, r *http.Request) {
	id, err := parseProductID(r.PathValue("id"))
	if err != nil {
		errorReply(err).write(w, false)
		return
	}
	var req struct {
		Stock *int `json:"stock"`
	}
	body, err := readBody(w, r)
	if err == nil {
		err = decodeJSON(body, &req)
	}
	if err == nil && req.Stock == nil {
		err = invalid("stock is required")
	}
	if err != nil {
		errorReply(err).write(w, false)
		return
	}
	lvl, err := p.setStock(id, *req.Stock)
	if err != nil {
		errorReply(err).write(w, false)
		return
	}
	jsonReply(http.StatusOK, lvl).write(w, false)
}
