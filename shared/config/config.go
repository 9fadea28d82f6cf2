// Package config reads typed settings from an injected getenv. It is the only
// package that knows settings come from the environment: each BFF describes
// its settings as a struct that starts from defaults, loads it once through a
// Loader, and validates it before listening.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Loader reads settings and collects every parse error, so a bad
// configuration is reported whole rather than one setting at a time.
type Loader struct {
	getenv func(string) string
	errs   []error
}

// NewLoader returns a Loader reading from getenv (os.Getenv in main).
func NewLoader(getenv func(string) string) *Loader { return &Loader{getenv: getenv} }

func (l *Loader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(l.getenv(name))
	return v, v != ""
}

func (l *Loader) fail(name, v string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: %w", name, v, err))
}

// String sets *dst from name when it is set.
func (l *Loader) String(dst *string, name string) {
	if v, ok := l.lookup(name); ok {
		*dst = v
	}
}

// Int sets *dst from name when it is set.
func (l *Loader) Int(dst *int, name string) {
	if v, ok := l.lookup(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.fail(name, v, errors.New("not an integer"))
			return
		}
		*dst = n
	}
}

// Bool sets *dst from name when it is set ("true", "false", "1", "0").
func (l *Loader) Bool(dst *bool, name string) {
	if v, ok := l.lookup(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.fail(name, v, errors.New("not a boolean"))
			return
		}
		*dst = b
	}
}

// Duration sets *dst from name when it is set, in Go syntax ("250ms", "2s").
func (l *Loader) Duration(dst *time.Duration, name string) {
	if v, ok := l.lookup(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			l.fail(name, v, errors.New("not a non-negative duration such as 2s"))
			return
		}
		*dst = d
	}
}

// List sets *dst from a comma-separated name when it is set.
func (l *Loader) List(dst *[]string, name string) {
	if v, ok := l.lookup(name); ok {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		*dst = out
	}
}

// URLs sets *dst from a comma-separated list of absolute http(s) URLs.
func (l *Loader) URLs(dst *[]string, name string) {
	var list []string
	l.List(&list, name)
	if list == nil {
		return
	}
	for _, raw := range list {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail(name, raw, errors.New("not an absolute http(s) URL"))
			return
		}
	}
	*dst = list
}

// Err returns every error met so far, joined, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// Upstreams are the instance URLs of the five services; each list is
// load-balanced round-robin.
type Upstreams struct {
	// Product is UPSTREAM_PRODUCT_URLS; default http://127.0.0.1:8001.
	Product []string
	// Order is UPSTREAM_ORDER_URLS; default http://127.0.0.1:8002.
	Order []string
	// Payment is UPSTREAM_PAYMENT_URLS; default http://127.0.0.1:8003.
	Payment []string
	// User is UPSTREAM_USER_URLS; default http://127.0.0.1:8004.
	User []string
	// Notification is UPSTREAM_NOTIFICATION_URLS; default http://127.0.0.1:8005.
	Notification []string
	// CallTimeout is UPSTREAM_CALL_TIMEOUT, the cap on one upstream call when
	// the request's deadline is further away; default 2s.
	CallTimeout time.Duration
	// Retries is UPSTREAM_GET_RETRIES, how often a failed safe read is
	// retried with backoff; default 2.
	Retries int
	// BreakerFailures is UPSTREAM_BREAKER_FAILURES, the consecutive
	// failures (transport errors, 5xx) that open a service's circuit
	// breaker; it also opens when half of at least 20 calls in 10s fail.
	// Default 5.
	BreakerFailures int
	// BreakerOpenTimeout is UPSTREAM_BREAKER_OPEN_TIMEOUT, how long an open
	// breaker fails calls fast before letting a trial call through;
	// default 5s.
	BreakerOpenTimeout time.Duration
}

// DefaultUpstreams are the sandbox's addresses.
func DefaultUpstreams() Upstreams {
	return Upstreams{
		Product:      []string{"http://127.0.0.1:8001"},
		Order:        []string{"http://127.0.0.1:8002"},
		Payment:      []string{"http://127.0.0.1:8003"},
		User:         []string{"http://127.0.0.1:8004"},
		Notification: []string{"http://127.0.0.1:8005"},
		CallTimeout:  2 * time.Second,
		Retries:      2,

		BreakerFailures:    5,
		BreakerOpenTimeout: 5 * time.Second,
	}
}

// Load reads the upstream settings.
func (u *Upstreams) Load(l *Loader) {
	l.URLs(&u.Product, "UPSTREAM_PRODUCT_URLS")
	l.URLs(&u.Order, "UPSTREAM_ORDER_URLS")
	l.URLs(&u.Payment, "UPSTREAM_PAYMENT_URLS")
	l.URLs(&u.User, "UPSTREAM_USER_URLS")
	l.URLs(&u.Notification, "UPSTREAM_NOTIFICATION_URLS")
	l.Duration(&u.CallTimeout, "UPSTREAM_CALL_TIMEOUT")
	l.Int(&u.Retries, "UPSTREAM_GET_RETRIES")
	l.Int(&u.BreakerFailures, "UPSTREAM_BREAKER_FAILURES")
	l.Duration(&u.BreakerOpenTimeout, "UPSTREAM_BREAKER_OPEN_TIMEOUT")
}

// Validate reports settings that cannot work.
func (u Upstreams) Validate() error {
	var errs []error
	for name, list := range map[string][]string{"product": u.Product, "order": u.Order, "payment": u.Payment, "user": u.User, "notification": u.Notification} {
		if len(list) == 0 {
			errs = append(errs, fmt.Errorf("no %s upstream URL", name))
		}
	}
	if u.CallTimeout <= 0 {
		errs = append(errs, errors.New("UPSTREAM_CALL_TIMEOUT must be positive"))
	}
	if u.BreakerFailures < 1 || u.BreakerOpenTimeout <= 0 {
		errs = append(errs, errors.New("UPSTREAM_BREAKER_FAILURES and UPSTREAM_BREAKER_OPEN_TIMEOUT must be positive"))
	}
	if u.Retries < 0 {
		errs = append(errs, errors.New("UPSTREAM_GET_RETRIES must not be negative"))
	}
	return errors.Join(errs...)
}
