package contract_test

import (
	"net/http"
	"os"
	"testing"

	"storefront.dev/shared/httpserver/servertest/contract"
)

// BenchmarkCheck measures one checked exchange: a documented 200 with a
// required header and a small JSON body.
func BenchmarkCheck(b *testing.B) {
	data, err := os.ReadFile("testdata/items.json")
	if err != nil {
		b.Fatal(err)
	}
	c, err := contract.Load(data)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest("GET", "http://127.0.0.1/items/a1", nil)
	if err != nil {
		b.Fatal(err)
	}
	header := http.Header{"Content-Type": {"application/json"}, "Etag": {`"v1"`}}
	body := []byte(`{"id":"a1","name":"Lamp","price":1999,"note":null}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(req, 200, header, body); err != nil {
			b.Fatal(err)
		}
	}
}
