// Package cursor seals the pagination cursors a BFF hands its clients: each
// wraps the upstream service's cursor for the next page, bound to one
// listing (a catalog category, one user's orders) and authenticated with
// an HMAC, so that a client can neither forge nor edit one, nor replay it
// against another listing, and a bad one is refused before any upstream
// call.
package cursor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"storefront.dev/shared/problem"
)

// version starts every cursor, so that the format can change while
// clients still hold old ones.
const version = "c2"

// KeyBytes is the length of a generated key, and the least a configured
// one must have.
const KeyBytes = 32

// macBytes is the length of the truncated HMAC-SHA256 a cursor carries,
// macChars its length in unpadded base64: a cursor is the version, the
// MAC, then the upstream cursor in base64, all URL-safe.
const (
	macBytes = 16
	macChars = 22
)

// MaxUpstreamLength is the longest upstream cursor, in bytes, that a
// Signer seals; SealNext refuses a longer one.
const MaxUpstreamLength = 256

// MaxLength is the length of the cursor sealed from an upstream cursor of
// MaxUpstreamLength bytes, the longest a Signer makes: the longest a BFF
// may accept back from a client, and the only bound it needs.
const MaxLength = len(version) + macChars + (MaxUpstreamLength*8+5)/6

// ErrTooLong is the error of SealNext given an upstream cursor longer than
// MaxUpstreamLength.
var ErrTooLong = errors.New("cursor: the upstream cursor is too long to seal")

// strict decodes only the canonical base64 of a value, so that a cursor
// has one spelling: the unused bits of a last character must be zero.
var strict = base64.RawURLEncoding.Strict()

// Signer seals and opens cursors with one key; every replica of a BFF must
// share it for a cursor made by one to be good on another. It is safe for
// concurrent use.
type Signer struct{ keys atomic.Pointer[keyring] }

// keyring is the key a Signer seals with, and the one it sealed with
// before SetKey, which still opens the cursors handed out with it.
type keyring struct{ seal, before []byte }

// New returns a Signer of key, at least KeyBytes long.
func New(key []byte) (*Signer, error) {
	s := &Signer{}
	if err := s.SetKey(key); err != nil {
		return nil, err
	}
	return s, nil
}

// SetKey makes the Signer seal with key, at least KeyBytes long, from now
// on; the cursors it sealed with its key before still open.
func (s *Signer) SetKey(key []byte) error {
	if len(key) < KeyBytes {
		return fmt.Errorf("cursor: key of %d bytes, want at least %d", len(key), KeyBytes)
	}
	next := &keyring{seal: append([]byte(nil), key...)}
	if prev := s.keys.Load(); prev != nil {
		next.before = prev.seal
	}
	s.keys.Store(next)
	return nil
}

// NewKey returns a random key.
func NewKey() []byte {
	k := make([]byte, KeyBytes)
	_, _ = rand.Read(k)
	return k
}

// Orders is the listing of a user's orders.
func Orders(userID string) string { return "orders:" + userID }

// Products is the listing of a catalog category ("" for all of it).
func Products(category string) string { return "products:" + category }

// SealNext returns the cursor of next, the upstream's cursor for the page
// after one of listing; the last page's empty cursor stays empty. An
// upstream cursor longer than MaxUpstreamLength is refused with an error
// wrapping ErrTooLong rather than sealed into a cursor longer than
// MaxLength, which the BFF would refuse when the client sent it back.
func (s *Signer) SealNext(listing, next string) (string, error) {
	if next == "" {
		return "", nil
	}
	if len(next) > MaxUpstreamLength {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(next), MaxUpstreamLength)
	}
	body := base64.RawURLEncoding.EncodeToString([]byte(next))
	return version + base64.RawURLEncoding.EncodeToString(mac(s.keys.Load().seal, listing, body)) + body, nil
}

// Open returns the upstream's cursor sealed in cursor for listing; an empty
// cursor (the first page) opens to "". Anything else, a cursor tampered
// with, forged, of another listing or made with another key, is a 400
// problem naming the cursor.
func (s *Signer) Open(listing, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(cursor, version)
	if !ok || len(rest) <= macChars || len(cursor) > MaxLength {
		return "", problem.Invalid("cursor", "The cursor is not valid for this listing; start again without it.")
	}
	sum, body := rest[:macChars], rest[macChars:]
	got, err := strict.DecodeString(sum)
	keys := s.keys.Load()
	if err != nil || !hmac.Equal(got, mac(keys.seal, listing, body)) &&
		(keys.before == nil || !hmac.Equal(got, mac(keys.before, listing, body))) {
		return "", problem.Invalid("cursor", "The cursor is not valid for this listing; start again without it.")
	}
	next, err := strict.DecodeString(body)
	if err != nil || len(next) == 0 {
		return "", problem.Invalid("cursor", "The cursor is not valid for this listing; start again without it.")
	}
	return string(next), nil
}

// mac is the truncated HMAC of a cursor's body for listing, with key.
func mac(key []byte, listing, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(version + "\x00" + listing + "\x00" + body))
	return m.Sum(nil)[:macBytes]
}
