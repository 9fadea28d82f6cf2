package sandbox

import (
	"fmt"
	"maps"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream/product"
)

// seedItem is one hand-written catalog entry; seedCatalog derives the rest
// (id, sku, images, rating, stock) from its position so the catalog is the
// same on every run.
type seedItem struct {
	name  string
	brand string
	price int64 // EUR cents
	blurb string
	attrs map[string]string
}

// categories lists the catalog in id order: products are numbered from 1
// through the categories in this order.
var categories = []struct {
	name   string
	prefix string
	line   string // a sentence every product of the category ends with
	items  []seedItem
}{
	{"books", "BK", "Printed on FSC-certified paper.", []seedItem{
		{"The Go Programming Language", "Addison-Wesley", 3990, "A thorough tour of Go, from the basics to concurrency and reflection.", map[string]string{"format": "paperback", "pages": "380", "language": "en"}},
		{"Designing Data-Intensive Applications", "O'Reilly", 4550, "How databases, streams and distributed systems really behave, and why it matters.", map[string]string{"format": "paperback", "pages": "616", "language": "en"}},
		{"A Philosophy of Software Design", "Yaknyam Press", 2499, "A short book about fighting complexity with deep modules and clear interfaces.", map[string]string{"format": "paperback", "pages": "190", "language": "en"}},
		{"The Pragmatic Programmer", "Addison-Wesley", 4299, "Habits and tools of effective developers, revised for the 20th anniversary.", map[string]string{"format": "hardcover", "pages": "352", "language": "en"}},
		{"Release It!", "Pragmatic Bookshelf", 3850, "Design and deploy production-ready software that survives the real world.", map[string]string{"format": "paperback", "pages": "376", "language": "en"}},
		{"Site Reliability Engineering", "O'Reilly", 4999, "How Google runs production systems, told by the engineers who do it.", map[string]string{"format": "paperback", "pages": "552", "language": "en"}},
		{"Structure and Interpretation of Computer Programs", "MIT Press", 5500, "The classic introduction to abstraction, recursion and interpreters.", map[string]string{"format": "paperback", "pages": "657", "language": "en"}},
		{"The Mythical Man-Month", "Addison-Wesley", 2999, "Essays on software engineering that are still right decades later.", map[string]string{"format": "paperback", "pages": "336", "language": "en"}},
	}},
	{"electronics", "EL", "Comes with a two-year warranty.", []seedItem{
		{"Noise-Cancelling Headphones", "Voltra", 24900, "Over-ear headphones with adaptive noise cancelling and 30 hours of battery.", map[string]string{"color": "black", "connectivity": "bluetooth 5.3"}},
		{"Mechanical Keyboard", "Keystone", 12900, "A tenkeyless keyboard with hot-swappable tactile switches.", map[string]string{"layout": "ISO", "switches": "tactile"}},
		{"27-inch 4K Monitor", "Lumina", 38900, "A colour-accurate IPS panel with USB-C power delivery.", map[string]string{"resolution": "3840x2160", "panel": "IPS"}},
		{"Wireless Mouse", "Keystone", 4900, "A quiet, ergonomic mouse that pairs with three devices.", map[string]string{"color": "graphite", "connectivity": "bluetooth"}},
		{"USB-C Hub", "Voltra", 5990, "Seven ports in an aluminium shell, including HDMI and Ethernet.", map[string]string{"ports": "7", "color": "silver"}},
		{"Portable SSD 1TB", "Lumina", 10900, "Pocket-sized storage at up to 1050 MB/s.", map[string]string{"capacity": "1TB", "interface": "USB 3.2"}},
		{"Smart Speaker", "Voltra", 8900, "Room-filling sound with a microphone mute switch you can trust.", map[string]string{"color": "chalk", "connectivity": "wifi"}},
		{"E-Reader", "Lumina", 13900, "A glare-free 7-inch screen and weeks of battery life.", map[string]string{"screen": "7 inch", "storage": "16GB"}},
	}},
	{"kitchen", "KI", "Dishwasher-safe parts are marked on the box.", []seedItem{
		{"Cast Iron Skillet", "Forge & Hearth", 4490, "A pre-seasoned 26 cm skillet that goes from hob to oven.", map[string]string{"material": "cast iron", "diameter": "26 cm"}},
		{"Chef's Knife 20cm", "Kanto", 8900, "A balanced blade of layered steel with a walnut handle.", map[string]string{"material": "steel", "length": "20 cm"}},
		{"Pour-Over Coffee Set", "Kanto", 3990, "A ceramic dripper, a glass server and a hundred filters.", map[string]string{"material": "ceramic", "capacity": "600 ml"}},
		{"Stand Mixer", "Forge & Hearth", 32900, "A 5-litre bowl and a motor strong enough for bread dough.", map[string]string{"capacity": "5 l", "power": "1000 W"}},
		{"Bamboo Cutting Board", "Greenleaf", 2490, "A large board with a juice groove, made from fast-growing bamboo.", map[string]string{"material": "bamboo", "size": "45x30 cm"}},
		{"Espresso Machine", "Kanto", 44900, "A compact dual-boiler machine with a PID-controlled temperature.", map[string]string{"pressure": "15 bar", "water tank": "2 l"}},
		{"Dutch Oven 5L", "Forge & Hearth", 11900, "Enamelled cast iron for slow stews and crusty loaves.", map[string]string{"material": "enamelled cast iron", "capacity": "5 l"}},
		{"Digital Kitchen Scale", "Greenleaf", 1990, "Weighs to the gram up to 5 kg, with a tare button.", map[string]string{"max weight": "5 kg", "precision": "1 g"}},
	}},
	{"outdoor", "OD", "Tested in the Alps before it reaches the shelf.", []seedItem{
		{"Two-Person Tent", "Ridgeline", 27900, "A freestanding tent that pitches in five minutes and weighs under 2 kg.", map[string]string{"weight": "1.9 kg", "season": "3"}},
		{"Trekking Poles", "Ridgeline", 6900, "Carbon poles that fold to 38 cm and lock with one flick.", map[string]string{"material": "carbon", "weight": "420 g"}},
		{"Down Sleeping Bag", "Northwind", 21900, "Ethically sourced down, comfortable down to -5 °C.", map[string]string{"comfort": "-5 °C", "weight": "1.1 kg"}},
		{"Hydration Pack 20L", "Northwind", 7900, "A ventilated day pack with a 2-litre reservoir.", map[string]string{"volume": "20 l", "reservoir": "2 l"}},
		{"Camping Stove", "Ridgeline", 4590, "A tiny gas stove that boils a litre in three minutes.", map[string]string{"fuel": "gas", "weight": "88 g"}},
		{"Headlamp 400lm", "Northwind", 3490, "A rechargeable headlamp with a red night mode.", map[string]string{"output": "400 lm", "battery": "USB-C"}},
		{"Insulated Bottle 750ml", "Greenleaf", 2990, "Keeps drinks cold for a day and hot for twelve hours.", map[string]string{"capacity": "750 ml", "material": "stainless steel"}},
		{"Folding Camp Chair", "Ridgeline", 5490, "A low chair that packs into its own carry bag.", map[string]string{"weight": "950 g", "max load": "120 kg"}},
	}},
	{"toys", "TY", "Meets EN 71 toy safety standards.", []seedItem{
		{"Wooden Train Set", "Little Oak", 5990, "Forty pieces of beech track, a bridge and two magnetic trains.", map[string]string{"age": "3+", "pieces": "40"}},
		{"Building Blocks 500pcs", "Brickwise", 3990, "Five hundred compatible bricks in twelve colours.", map[string]string{"age": "5+", "pieces": "500"}},
		{"Plush Fox", "Little Oak", 2490, "A soft, washable fox with embroidered eyes.", map[string]string{"age": "0+", "height": "30 cm"}},
		{"Puzzle 1000 Pieces", "Brickwise", 1990, "A harbour at dusk, printed on thick recycled board.", map[string]string{"age": "12+", "pieces": "1000"}},
		{"Stunt Kite", "Skylark", 3490, "A dual-line kite that loops and dives in a light breeze.", map[string]string{"age": "8+", "span": "1.4 m"}},
		{"Marble Run", "Brickwise", 4490, "Build tracks, funnels and lifts; a hundred marbles included.", map[string]string{"age": "6+", "pieces": "150"}},
		{"Chemistry Science Kit", "Skylark", 4990, "Thirty safe experiments with a lab notebook to record them.", map[string]string{"age": "10+", "experiments": "30"}},
		{"Board Game: Harbour", "Little Oak", 3490, "Trade and build ports in a game for two to five players.", map[string]string{"age": "10+", "players": "2-5"}},
	}},
	{"apparel", "AP", "Free returns within thirty days.", []seedItem{
		{"Merino T-Shirt", "Fjell", 5900, "A breathable merino tee that does not hold odours.", map[string]string{"material": "merino wool", "sizes": "XS-XXL"}},
		{"Rain Jacket", "Fjell", 16900, "A packable three-layer shell with taped seams.", map[string]string{"material": "recycled nylon", "sizes": "S-XL"}},
		{"Wool Socks (3 pack)", "Northwind", 2490, "Cushioned hiking socks that stay warm when wet.", map[string]string{"material": "wool blend", "sizes": "36-47"}},
		{"Denim Jeans", "Harbor & Co", 8900, "Straight-leg jeans in organic selvedge denim.", map[string]string{"material": "organic cotton", "sizes": "28-38"}},
		{"Hoodie", "Harbor & Co", 6900, "A heavyweight loopback hoodie with a double-lined hood.", map[string]string{"material": "cotton", "sizes": "XS-XXL"}},
		{"Running Shoes", "Stride", 12900, "Light, responsive shoes for daily training.", map[string]string{"drop": "8 mm", "sizes": "36-47"}},
		{"Beanie", "Fjell", 2900, "A rib-knit beanie in soft lambswool.", map[string]string{"material": "lambswool", "sizes": "one size"}},
		{"Linen Shirt", "Harbor & Co", 7900, "A relaxed shirt in washed European linen.", map[string]string{"material": "linen", "sizes": "S-XXL"}},
	}},
}

// closingLines are appended to every other description, so that
// descriptions run to two or three sentences.
var closingLines = []string{
	"Ships within two working days.",
	"A favourite of our customers this year.",
	"Packed without plastic.",
}

// seedCatalog returns the catalog with its initial stock, stamped at now.
func seedCatalog(now time.Time) []product.Product {
	var out []product.Product
	id := int64(0)
	for _, c := range categories {
		for i, it := range c.items {
			id++
			desc := it.blurb + " " + c.line
			if id%2 == 0 {
				desc += " " + closingLines[int(id/2)%len(closingLines)]
			}
			out = append(out, product.Product{
				ID:          id,
				SKU:         fmt.Sprintf("%s-%04d", c.prefix, i+1),
				Name:        it.name,
				Description: desc,
				Category:    c.name,
				Brand:       it.brand,
				Price:       money.New(it.price, "EUR"),
				Images:      seedImages(id, it.name),
				Attributes:  maps.Clone(it.attrs),
				Rating:      float64(35+(id*7)%16) / 10,
				Stock:       int(5 + (id*37)%96),
				UpdatedAt:   now,
			})
		}
	}
	return out
}

// seedImages returns two to four pictures: main and thumbnail always, and up
// to two gallery shots.
func seedImages(id int64, name string) []product.Image {
	base := fmt.Sprintf("https://img.storefront.dev/products/%d/", id)
	imgs := []product.Image{
		{URL: base + "main.jpg", Alt: name, Width: 1200, Height: 1200, Kind: "main"},
		{URL: base + "thumbnail.jpg", Alt: name + " (thumbnail)", Width: 200, Height: 200, Kind: "thumbnail"},
	}
	for g := 1; g <= int(id%3); g++ {
		imgs = append(imgs, product.Image{
			URL:    fmt.Sprintf("%sgallery-%d.jpg", base, g),
			Alt:    fmt.Sprintf("%s, view %d", name, g+1),
			Width:  1200,
			Height: 900,
			Kind:   "gallery",
		})
	}
	return imgs
}
