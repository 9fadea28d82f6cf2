// Package upstreamtest is test support for code that calls the upstream
// services: a Service that closes when the test ends, and checks of the
// *upstream.Error a call returns. No production package imports it.
package upstreamtest

import (
	"testing"

	"storefront.dev/shared/upstream"
)

// Service is upstream.NewService for a test: it fails tb when the service
// cannot be made, and closes it in tb.Cleanup.
func Service(tb testing.TB, name string, urls []string, cfg upstream.Config, opts ...upstream.Option) *upstream.Service {
	tb.Helper()
	s, err := upstream.NewService(name, urls, cfg, opts...)
	if err != nil {
		tb.Fatalf("NewService(%s): %v", name, err)
	}
	tb.Cleanup(s.Close)
	return s
}

// AsError returns err as an *upstream.Error, and fails tb at once when it
// is not one.
func AsError(tb testing.TB, err error) *upstream.Error {
	tb.Helper()
	e, ok := upstream.As(err)
	if !ok {
		tb.Fatalf("got error %v (%T), want *upstream.Error", err, err)
	}
	return e
}

// ErrorCheck checks that err is an *upstream.Error of the operation op with
// kind, status and code, and returns it for further checks.
type ErrorCheck func(tb testing.TB, err error, op string, kind upstream.Kind, status int, code string) *upstream.Error

// WantError returns the ErrorCheck of the calls to service.
func WantError(service string) ErrorCheck {
	return func(tb testing.TB, err error, op string, kind upstream.Kind, status int, code string) *upstream.Error {
		tb.Helper()
		e := AsError(tb, err)
		if e.Service != service || e.Op != op || e.Kind != kind || e.Status != status || e.Code != code {
			tb.Errorf("got %s/%s kind %s status %d code %q, want %s/%s %s %d %q",
				e.Service, e.Op, e.Kind, e.Status, e.Code, service, op, kind, status, code)
		}
		return e
	}
}
