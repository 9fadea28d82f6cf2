package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// TestCarryOverKeepsTheSameKey: a key fetched again with the same material
// and algorithms keeps its value, so tokens cached as verified by it stay
// valid; new material or other algorithms under the kid make a new key.
func TestCarryOverKeepsTheSameKey(t *testing.T) {
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	copyOf := func(k *rsa.PublicKey) *rsa.PublicKey { c := *k; return &c }
	old := &keySet{keys: map[string]publicKey{
		"same":    {key: &a.PublicKey, algs: []string{"RS256"}},
		"changed": {key: &a.PublicKey, algs: []string{"RS256"}},
		"algs":    {key: &a.PublicKey, algs: []string{"RS256"}},
	}}
	cur := &keySet{keys: map[string]publicKey{
		"same":    {key: copyOf(&a.PublicKey), algs: []string{"RS256"}},
		"changed": {key: &b.PublicKey, algs: []string{"RS256"}},
		"algs":    {key: copyOf(&a.PublicKey), algs: []string{"RS256", "PS256"}},
		"new":     {key: copyOf(&a.PublicKey), algs: []string{"RS256"}},
	}}
	cur.carryOver(old)
	for kid, wantOld := range map[string]bool{"same": true, "changed": false, "algs": false, "new": false} {
		if got := cur.keys[kid].key == old.keys["same"].key; got != wantOld {
			t.Errorf("%s: kept the old key %v, want %v", kid, got, wantOld)
		}
	}
}
