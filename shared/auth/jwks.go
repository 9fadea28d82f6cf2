package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"storefront.dev/shared/upstream/user"
)

// minRSABits refuses keys that are too short to be trusted.
const minRSABits = 2048

// publicKey is one usable key of the JWKS with the algorithms a token signed
// by it may name.
type publicKey struct {
	key  crypto.PublicKey
	algs []string
}

// keySet is an immutable snapshot of the JWKS.
type keySet struct {
	// fetched is when the set was read from the key source.
	fetched time.Time
	keys    map[string]publicKey
	// skipped says why a published key is not used, so a token naming it
	// fails with the reason in its cause rather than a bare "unknown key".
	skipped map[string]error
}

// carryOver replaces each key of set that old holds under the same kid,
// with the same material, by old's value, so that a key fetched again stays
// the same pointer and tokens cached as verified by it stay valid (see
// stillPublished). A key whose material changed under its kid is a new key.
func (set *keySet) carryOver(old *keySet) {
	if old == nil {
		return
	}
	for kid, k := range set.keys {
		prev, ok := old.keys[kid]
		if !ok {
			continue
		}
		if eq, ok := prev.key.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(k.key) && slices.Equal(prev.algs, k.algs) {
			set.keys[kid] = prev
		}
	}
}

// curves maps a JWK crv to its curve and to the one ES algorithm that uses it.
var curves = map[string]struct {
	curve elliptic.Curve
	alg   string
}{
	"P-256": {elliptic.P256(), "ES256"},
	"P-384": {elliptic.P384(), "ES384"},
	"P-521": {elliptic.P521(), "ES512"},
}

// parseKeySet keeps the keys that can verify a signature under the allowed
// algorithms. Keys that cannot are skipped rather than failing the whole set,
// so one odd key published beside good ones does not lock every user out.
func parseKeySet(jwks user.JWKS, allowed map[string][]string) *keySet {
	set := &keySet{keys: make(map[string]publicKey, len(jwks.Keys)), skipped: map[string]error{}}
	for _, jwk := range jwks.Keys {
		k, err := parseKey(jwk, allowed)
		if err != nil {
			set.skipped[jwk.Kid] = fmt.Errorf("key %q skipped: %w", jwk.Kid, err)
			continue
		}
		set.keys[jwk.Kid] = k
	}
	return set
}

func parseKey(jwk user.JWK, allowed map[string][]string) (publicKey, error) {
	if jwk.Kid == "" {
		return publicKey{}, errors.New("no kid")
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not sig", jwk.Use)
	}
	algs := allowed[jwk.Kty]
	if jwk.Alg != "" {
		if !slices.Contains(algs, jwk.Alg) {
			return publicKey{}, fmt.Errorf("alg %q not allowed for %s keys", jwk.Alg, jwk.Kty)
		}
		algs = []string{jwk.Alg}
	}
	switch jwk.Kty {
	case "RSA":
		if len(algs) == 0 {
			return publicKey{}, errors.New("no RSA algorithm allowed")
		}
		pub, err := parseRSA(jwk)
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{key: pub, algs: algs}, nil
	case "EC":
		c, ok := curves[jwk.Crv]
		if !ok {
			return publicKey{}, fmt.Errorf("unsupported curve %q", jwk.Crv)
		}
		// An EC key verifies exactly one algorithm: the one of its curve.
		if !slices.Contains(algs, c.alg) {
			return publicKey{}, fmt.Errorf("curve %s needs %s, which is not allowed", jwk.Crv, c.alg)
		}
		pub, err := parseEC(jwk, c.curve)
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{key: pub, algs: []string{c.alg}}, nil
	default:
		return publicKey{}, fmt.Errorf("unsupported kty %q", jwk.Kty)
	}
}

func parseRSA(jwk user.JWK) (*rsa.PublicKey, error) {
	n, err := decodeUint(jwk.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := decodeUint(jwk.E, "e")
	if err != nil {
		return nil, err
	}
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("modulus of %d bits is shorter than %d", n.BitLen(), minRSABits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("bad public exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func parseEC(jwk user.JWK, curve elliptic.Curve) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	x, err := decodeFixed(jwk.X, "x", size)
	if err != nil {
		return nil, err
	}
	y, err := decodeFixed(jwk.Y, "y", size)
	if err != nil {
		return nil, err
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	// ParseUncompressedPublicKey rejects points off the curve, which would
	// otherwise open invalid-curve attacks.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("bad point: %w", err)
	}
	return pub, nil
}

func decodeUint(s, name string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad %s", name)
	}
	return new(big.Int).SetBytes(b), nil
}

// decodeFixed decodes an EC coordinate, which RFC 7518 requires to be exactly
// the curve's size.
func decodeFixed(s, name string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("bad %s", name)
	}
	return b, nil
}
