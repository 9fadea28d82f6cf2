package httpserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// codings are the content codings the compress middleware may apply, each
// marked in the ETag of an answer it encoded.
var codings = []string{"gzip", "br", "deflate", "zstd"}

// ConditionalGET tags every successful GET answer with a strong ETag, a
// digest of its body, and answers 304 Not Modified without the body when
// If-None-Match already names it: a client re-reading a screen it holds pays
// a few header bytes. It sits inside the compression, so the digest is of
// the identity body; EncodedETag marks the tag of an encoded one, and both
// forms match here. An answer without a Cache-Control of its handler's is
// marked "private, no-cache": a shared cache must not keep a user's data,
// and the client revalidates before reuse. The tag depends only on the bytes the caller would get,
// so it reveals nothing about anyone else's data.
func ConditionalGET(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead || c.Response().StatusCode() != fiber.StatusOK {
		return nil
	}
	h := &c.Response().Header
	addVary(h, fiber.HeaderAcceptEncoding)
	if len(h.Peek(fiber.HeaderCacheControl)) == 0 {
		h.SetCanonical(headerCacheControl, privateNoCache)
	}
	var buf quotedTag
	etag := buf.of(c.Response().Body())
	// A list field may come on several lines, one list (RFC 9110 §5.3).
	for _, inm := range c.Request().Header.PeekAll(fiber.HeaderIfNoneMatch) {
		if etag, ok := noneMatch(string(inm), string(etag[1:len(etag)-1]), c.Request().Header.HasAcceptEncoding); ok {
			c.Status(fiber.StatusNotModified)
			c.Response().ResetBody()
			h.Del(fiber.HeaderContentType)
			h.Set(fiber.HeaderETag, etag)
			return nil
		}
	}
	h.SetCanonical(headerETag, etag)
	return nil
}

// The fields ConditionalGET sets, as bytes and in canonical form.
var (
	headerCacheControl = canonicalKey(fiber.HeaderCacheControl)
	headerETag         = canonicalKey(fiber.HeaderETag) // "Etag"
	headerVary         = canonicalKey(fiber.HeaderVary)
	privateNoCache     = []byte("private, no-cache")
)

// canonicalKey is a header name as fasthttp stores and looks it up
// ("ETag" is "Etag"), for SetCanonical, which takes it as it is.
func canonicalKey(name string) []byte { return fasthttp.AppendNormalizedHeaderKey(nil, name) }

// digestLen is the length of a digest: 16 bytes in unpadded base64.
const digestLen = 22

// quotedTag holds a body's strong entity tag, its digest in quotes; it
// lives on its user's stack, so that tagging an answer allocates nothing.
type quotedTag [digestLen + 2]byte

// of returns body's entity tag, held in t.
func (t *quotedTag) of(body []byte) []byte {
	t[0], t[len(t)-1] = '"', '"'
	digestInto(t[1:len(t)-1], body)
	return t[:]
}

// digestInto writes the opaque part of a body's strong ETag into dst
// (digestLen bytes): 128 bits of its SHA-256, which no two bodies a client
// will ever compare share by chance.
func digestInto(dst, body []byte) {
	sum := sha256.Sum256(body)
	base64.RawURLEncoding.Encode(dst, sum[:16])
}

// addVary adds name to the answer's Vary field unless it lists it already
// (field names are case-insensitive).
func addVary(h *fasthttp.ResponseHeader, name string) {
	cur := h.PeekBytes(headerVary)
	for rest := cur; len(rest) > 0; {
		var item []byte
		item, rest, _ = bytes.Cut(rest, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(item), []byte(name)) {
			return
		}
	}
	if len(cur) == 0 {
		h.SetCanonical(headerVary, []byte(name))
		return
	}
	var buf [128]byte
	h.SetCanonical(headerVary, append(append(append(buf[:0], cur...), ", "...), name...))
}

// noneMatch reports whether the If-None-Match header names the body tagged
// tag, in its identity or an encoded form the request accepts (weak
// comparison, as RFC 9110 prescribes for If-None-Match), and returns the
// entity tag to send with the 304: the one the client holds. The form must
// be one the request accepts: a cache holding the gzip and the identity
// bytes picks the copy a 304 names, and must not serve gzip to a client
// that cannot read it.
func noneMatch(header, tag string, accepts func(coding string) bool) (string, bool) {
	for _, cand := range strings.Split(header, ",") {
		cand = strings.TrimSpace(cand)
		if cand == "*" {
			return `"` + tag + `"`, true
		}
		cand = strings.TrimPrefix(cand, "W/")
		if len(cand) < 2 || cand[0] != '"' || cand[len(cand)-1] != '"' {
			continue
		}
		rest, ok := strings.CutPrefix(cand[1:len(cand)-1], tag)
		if !ok {
			continue
		}
		if rest == "" {
			return `"` + tag + `"`, true
		}
		for _, coding := range codings {
			if rest == "-"+coding && accepts(coding) {
				return `"` + tag + "-" + coding + `"`, true
			}
		}
	}
	return "", false
}

// EncodedETag marks the strong ETag of a compressed answer with its coding
// ("…-gzip"): a strong validator must tell the identity bytes from the
// encoded ones (RFC 9110, section 8.8.3), or a cache could serve one for the
// other. It sits outside the compression.
func EncodedETag(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	h := &c.Response().Header
	enc := string(h.Peek(fiber.HeaderContentEncoding))
	etag := string(h.Peek(fiber.HeaderETag))
	if enc == "" || len(etag) < 2 || etag[0] != '"' {
		return nil
	}
	for _, coding := range codings {
		if enc == coding {
			h.Set(fiber.HeaderETag, etag[:len(etag)-1]+"-"+coding+`"`)
		}
	}
	return nil
}

// Cacheable makes the successful answers of the routes under prefix
// compressed (see compressSuccess) and revalidated with ETags: EncodedETag
// outside the compression, ConditionalGET inside it. Middleware mounted
// after it runs inside them.
func Cacheable(r fiber.Router, prefix string) {
	r.Use(prefix, EncodedETag, compressSuccess(), ConditionalGET)
}

// compressSuccess compresses the body of a 2xx answer with gzip or brotli,
// as Accept-Encoding allows, when it is 200 bytes or more (fasthttp's
// bound: less would not shrink). Other answers are problem documents, a
// few hundred bytes at most and sent in floods under overload (a shed
// request's 503): compressing them would cost more CPU than the bytes it
// saves, at the worst moment.
func compressSuccess() fiber.Handler {
	compressor := fasthttp.CompressHandlerBrotliLevel(func(*fasthttp.RequestCtx) {},
		fasthttp.CompressBrotliDefaultCompression, fasthttp.CompressDefaultCompression)
	return func(c *fiber.Ctx) error {
		if err := c.Next(); err != nil {
			return err
		}
		if status := c.Response().StatusCode(); status >= 200 && status < 300 {
			compressor(c.Context())
		}
		return nil
	}
}
