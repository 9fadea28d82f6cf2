package httpserver

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

// identityBodies refuses a request that declares a content coding other
// than identity with a 415 problem and Accept-Encoding: identity (RFC 9110
// §15.5.16), before any handler can read its body. Fiber's Ctx.Body
// undoes gzip, br and deflate, layer upon layer, with no bound on what comes
// out: BodyLimit bounds only the bytes received, so 590 bytes of
// gzip(gzip(256 MiB)) would become 256 MiB in memory, and a 5 MB order would
// pass a 64 KiB limit. The BFFs' clients send bodies of a few hundred bytes,
// which nothing gains by compressing. Every line of the field is read: Fiber
// decodes by the last one. A field naming identity alone is removed, since
// Fiber reads a list of several as an empty body.
func identityBodies(c *fiber.Ctx) error {
	lines := c.Request().Header.PeekAll(fiber.HeaderContentEncoding)
	if len(lines) == 0 {
		return c.Next()
	}
	for _, v := range lines {
		if !identityOnly(string(v)) {
			c.Set(fiber.HeaderAcceptEncoding, "identity")
			return &problem.Error{Code: problem.CodeUnsupportedMedia, Err: errCodedBody,
				Detail: "Send the request body without a content coding: Content-Encoding identity or none."}
		}
	}
	c.Request().Header.Del(fiber.HeaderContentEncoding)
	return c.Next()
}

// errCodedBody is the cause of identityBodies' refusal, which comes before
// the routes' middleware (see Server.RefusalHeaders).
var errCodedBody = errors.New("a request body with a content coding")

// identityOnly reports whether a Content-Encoding value lists no coding but
// identity (content codings are case-insensitive; empty list elements are
// allowed).
func identityOnly(v string) bool {
	for coding := range strings.SplitSeq(v, ",") {
		if coding = strings.Trim(coding, " \t"); coding != "" && !strings.EqualFold(coding, "identity") {
			return false
		}
	}
	return true
}

// JSONBodies refuses a request with a body that is not declared
// application/json (or a +json type) with a 415 problem, before the
// handlers after it read it. Every route that reads a body carries it, so
// that a body is read one way only; on a route whose caller a browser's
// cookies authenticate it matters more: a body sent as text/plain or as a
// form is what a page of another site can send without a preflight (a
// login CSRF), which the Origin checks are otherwise the only thing to
// stop. It goes on the route, after routing and CORS, so that a wrong path
// is still a 404 and an allowed origin can read the refusal.
func JSONBodies(c *fiber.Ctx) error {
	if len(c.Request().Body()) == 0 || jsonMedia(c.Request().Header.ContentType()) {
		return c.Next()
	}
	// As every 415 of the APIs: the content codings a body may have.
	c.Set(fiber.HeaderAcceptEncoding, "identity")
	return problem.New(problem.CodeUnsupportedMedia, "Send the request body as application/json.")
}

// jsonMedia reports whether a Content-Type names JSON: application/json or
// an application/…+json type, with or without parameters (media types are
// case-insensitive).
func jsonMedia(contentType []byte) bool {
	mt, _, _ := strings.Cut(string(contentType), ";")
	mt = strings.ToLower(strings.Trim(mt, " \t"))
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}
