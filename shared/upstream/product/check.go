package product

import (
	"fmt"
	"slices"
)

// MaxPrice bounds a product's price in minor units, 10^15: an order of
// such products, 50 lines of 99 units at most (orderflow's bounds), still
// totals within an int64.
const MaxPrice = 1_000_000_000_000_000

// kinds are the kinds of picture the BFFs' documents name.
var kinds = []string{ImageMain, ImageThumbnail, ImageGallery}

// checked returns p as a BFF may show and sell it, or why it cannot: an
// id of 1 or more, and a price of 0 to MaxPrice minor units of an ISO 4217
// code (three capital letters), or the checkout would charge what the
// service did not mean. What is only shown is mended instead: a rating is
// kept within 0 to 5, and a picture of another kind than the documents
// name, or of a negative size, is left out.
func checked(p Product) (Product, error) {
	cur := p.Price.Currency
	switch {
	case p.ID < 1:
		return p, fmt.Errorf("product id %d", p.ID)
	case len(cur) != 3 || !isUpper(cur[0]) || !isUpper(cur[1]) || !isUpper(cur[2]):
		return p, fmt.Errorf("product %d is priced in %q, no ISO 4217 code", p.ID, cur)
	case p.Price.Amount < 0 || p.Price.Amount > MaxPrice:
		return p, fmt.Errorf("product %d costs %d minor units, outside 0 to %d", p.ID, p.Price.Amount, MaxPrice)
	}
	p.Rating = min(max(p.Rating, 0), 5)
	if slices.ContainsFunc(p.Images, oddImage) {
		p.Images = slices.DeleteFunc(slices.Clone(p.Images), oddImage)
	}
	return p, nil
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func oddImage(img Image) bool {
	return !slices.Contains(kinds, img.Kind) || img.Width < 0 || img.Height < 0
}

// checkAll applies checked to each of items, in place; the first product
// that cannot be shown is the error.
func checkAll(items []Product) error {
	for i := range items {
		p, err := checked(items[i])
		if err != nil {
			return err
		}
		items[i] = p
	}
	return nil
}
