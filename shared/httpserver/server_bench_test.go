package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"storefront.dev/shared/admission"
	"storefront.dev/shared/auth"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/telemetry"
)

// benchVerifier accepts one token, as a cached verification does.
type benchVerifier struct{}

func (benchVerifier) Verify(_ context.Context, token string) (auth.Claims, error) {
	return auth.Claims{Subject: "usr_ada"}, nil
}

// BenchmarkRequest is one request through a BFF's edge, in process (no
// socket): "bare" is the middleware every request passes (request id,
// server span, metrics, access log off as at LOG_LEVEL=warn, security
// headers, panic recovery) around a handler that writes nothing; "screen"
// is a screen's route as the BFFs mount it: ETag and compression, a bearer
// token, admission control and the default rate limit, and a 700-byte
// JSON answer. The server runs with the tracer provider the BFFs use when
// they export nothing. Run with:
//
//	go test -run '^$' -bench Request -benchmem ./httpserver/
func BenchmarkRequest(b *testing.B) {
	tracing, err := telemetry.NewTracing(context.Background(), "bench", telemetry.DefaultTracingConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tracing.Shutdown(context.Background()) })
	s := httpserver.New(httpserver.DefaultConfig(), slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		telemetry.NewMetrics(), httpserver.WithTracerProvider(tracing.Provider))
	s.App.Get("/healthz", func(c *fiber.Ctx) error { return nil })

	httpserver.Cacheable(s.App, "/api")
	acfg := admission.DefaultConfig()
	acfg.InitialLimit, acfg.MinLimit, acfg.MaxLimit = 1000000, 1000000, 1000000
	limit := s.Guard(admission.New(acfg), httpserver.ClassOf(admission.Authenticated), ratelimit.NewMemory(ratelimit.DefaultConfig()),
		ratelimit.Policy{Name: "default", Quota: 1000000000, Window: time.Second})
	type line struct {
		ProductID int64  `json:"product_id"`
		Name      string `json:"name"`
		Image     string `json:"image"`
		Quantity  int    `json:"quantity"`
	}
	body := struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Lines  []line `json:"lines"`
	}{ID: "ord_01HZX4Q9R5T7V8W2Y3Z4A5B6C7", Status: "confirmed"}
	for i := range 5 {
		body.Lines = append(body.Lines, line{ProductID: int64(i + 1), Name: "Cast iron skillet, 28 cm, pre-seasoned",
			Image: "https://img.storefront.dev/products/1/main.jpg", Quantity: 2})
	}
	s.App.Get("/api/orders/:id", httpserver.RequireUser(benchVerifier{}, nil), limit, func(c *fiber.Ctx) error {
		return c.JSON(body)
	})

	for _, bc := range []struct {
		name, path string
		status     int
	}{
		{"bare", "/healthz", fiber.StatusOK},
		{"screen", "/api/orders/ord_1", fiber.StatusOK},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := s.App.Handler()
			addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
			var req fasthttp.Request
			req.SetRequestURI(bc.path)
			req.Header.Set(fiber.HeaderAuthorization, "Bearer eyJhbGciOiJSUzI1NiJ9.bench.sig")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var fctx fasthttp.RequestCtx
				for pb.Next() {
					fctx.Init(&req, addr, nil)
					h(&fctx)
					if got := fctx.Response.StatusCode(); got != bc.status {
						b.Errorf("got status %d, want %d: %s", got, bc.status, fctx.Response.Body())
						return
					}
					fctx.Response.Reset()
				}
			})
		})
	}
}
