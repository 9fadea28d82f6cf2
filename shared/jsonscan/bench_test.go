package jsonscan_test

import (
	"testing"

	"storefront.dev/shared/jsonscan"
)

// credentials is the shape of the login body, the hottest strict decode.
type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// BenchmarkDecodeStrict decodes the login body and a nested body into
// their structs.
func BenchmarkDecodeStrict(b *testing.B) {
	b.Run("login", func(b *testing.B) {
		body := []byte(`{"email":"ada@example.com","password":"correct-horse"}`)
		b.ReportAllocs()
		for b.Loop() {
			var cr credentials
			if err := jsonscan.DecodeStrict(body, &cr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nested", func(b *testing.B) {
		body := []byte(`{"name":"x","lines":[{"id":1,"qty":2},{"id":3,"qty":4}],"meta":{"a":"b"}}`)
		b.ReportAllocs()
		for b.Loop() {
			var v nested
			if err := jsonscan.DecodeStrict(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// nested is a body with an array of objects and a free-form map.
type nested struct {
	Name  string `json:"name"`
	Lines []struct {
		ID  int `json:"id"`
		Qty int `json:"qty"`
	} `json:"lines"`
	Meta map[string]string `json:"meta"`
}
