package product

// The kinds of product pictures.
const (
	ImageMain      = "main"
	ImageThumbnail = "thumbnail"
	ImageGallery   = "gallery"
)

// MainImage is the picture a product page leads with: the one of kind main,
// else the first; ok is false when the product has no picture.
func (p Product) MainImage() (img Image, ok bool) { return p.imageOfKind(ImageMain) }

// Thumbnail is the picture a list row shows: the one of kind thumbnail, else
// the first; ok is false when the product has no picture.
func (p Product) Thumbnail() (img Image, ok bool) { return p.imageOfKind(ImageThumbnail) }

func (p Product) imageOfKind(kind string) (Image, bool) {
	for _, img := range p.Images {
		if img.Kind == kind {
			return img, true
		}
	}
	if len(p.Images) > 0 {
		return p.Images[0], true
	}
	return Image{}, false
}
