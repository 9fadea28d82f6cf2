package product_test

import (
	"testing"

	"storefront.dev/shared/upstream/product"
)

// TestImages: a product page leads with the main picture and a list row
// shows the thumbnail, each falling back to the first picture.
func TestImages(t *testing.T) {
	main := product.Image{URL: "/1/main.jpg", Kind: product.ImageMain}
	thumb := product.Image{URL: "/1/thumbnail.jpg", Kind: product.ImageThumbnail}
	gallery := product.Image{URL: "/1/gallery.jpg", Kind: product.ImageGallery}
	tests := []struct {
		name      string
		images    []product.Image
		wantMain  string
		wantThumb string
	}{
		{"both kinds", []product.Image{gallery, thumb, main}, main.URL, thumb.URL},
		{"no thumbnail", []product.Image{gallery, main}, main.URL, gallery.URL},
		{"no main picture", []product.Image{thumb, gallery}, thumb.URL, thumb.URL},
		{"no picture", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := product.Product{ID: 1, Images: tt.images}
			m, hasMain := p.MainImage()
			th, hasThumb := p.Thumbnail()
			if m.URL != tt.wantMain || th.URL != tt.wantThumb || hasMain != (tt.wantMain != "") || hasThumb != (tt.wantThumb != "") {
				t.Errorf("got main %q (%v) and thumbnail %q (%v), want %q and %q", m.URL, hasMain, th.URL, hasThumb, tt.wantMain, tt.wantThumb)
			}
		})
	}
}
