package main

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"storefront.dev/shared/config"
	"storefront.dev/shared/gateway"
	serversession "storefront.dev/shared/session"
)

// addrVar is the variable of the public listen address.
const addrVar = "BFF_WEB_ADDR"

// Config is every setting of bff-web; defaultConfig states the defaults.
type Config struct {
	// Addr is BFF_WEB_ADDR (addrVar), or the -addr flag, where the server
	// listens; default :8080.
	Addr string
	// Session configures the browser session cookie.
	Session Session
	// AllowedOrigins is BFF_ALLOWED_ORIGINS, the comma-separated origins of the
	// SPA ("https://shop.example.com") that may call the API with
	// credentials; default none. A cookie-authenticated write whose Origin
	// header is present must come from this list or from the BFF's own origin.
	// Each is kept as browsers send it: lower case, without the scheme's
	// default port.
	AllowedOrigins []string
	// Base holds the settings shared with bff-mobile (upstreams, limits,
	// auth, order flow, idempotency).
	config.Base
}

// Session configures the server-side sessions and their cookies.
type Session struct {
	// CookieName is BFF_COOKIE_NAME, the cookie holding the session's
	// opaque id; default sf_session. With Secure, the cookies are sent as
	// __Host-<name>: Secure, Path=/, no Domain, so that no other host or
	// path, and no plain-HTTP page, can set them.
	CookieName string
	// CSRFCookieName is BFF_CSRF_COOKIE_NAME, the cookie holding the CSRF token
	// that cookie-authenticated writes echo in X-CSRF-Token; default sf_csrf.
	// Both names must be RFC 6265 tokens, and differ.
	CSRFCookieName string
	// Secure is BFF_COOKIE_SECURE: mark cookies Secure (HTTPS only). Default
	// true; set false only for plain-HTTP local runs.
	Secure bool
	// SameSite is BFF_COOKIE_SAMESITE: Lax, Strict or None; default Lax.
	// None requires Secure.
	SameSite string
	// Lifetime is SESSION_IDLE_TIMEOUT and SESSION_MAX_AGE.
	Lifetime serversession.Config
}

// cookieNames are the names the session and CSRF cookies are sent under.
func (s Session) cookieNames() (id, csrf string) {
	if s.Secure {
		return "__Host-" + s.CookieName, "__Host-" + s.CSRFCookieName
	}
	return s.CookieName, s.CSRFCookieName
}

func defaultConfig() Config {
	return Config{
		Addr: ":8080",
		Session: Session{
			CookieName:     "sf_session",
			CSRFCookieName: "sf_csrf",
			Secure:         true,
			SameSite:       "Lax",
			Lifetime:       serversession.DefaultConfig(),
		},
		Base: gateway.DefaultConfig(),
	}
}

func loadConfig(getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	l := config.NewLoader(getenv)
	l.Addr(&cfg.Addr, addrVar)
	l.String(&cfg.Session.CookieName, "BFF_COOKIE_NAME")
	l.String(&cfg.Session.CSRFCookieName, "BFF_CSRF_COOKIE_NAME")
	l.Bool(&cfg.Session.Secure, "BFF_COOKIE_SECURE")
	l.String(&cfg.Session.SameSite, "BFF_COOKIE_SAMESITE")
	l.Duration(&cfg.Session.Lifetime.IdleTimeout, "SESSION_IDLE_TIMEOUT")
	l.Duration(&cfg.Session.Lifetime.MaxAge, "SESSION_MAX_AGE")
	l.List(&cfg.AllowedOrigins, "BFF_ALLOWED_ORIGINS")
	config.LoadBase(l, &cfg.Base)
	if err := l.Err(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// The CORS check compares origins byte for byte: keep each in the form
	// browsers send. validate reports the ones that are not origins.
	for i, o := range cfg.AllowedOrigins {
		if canon, err := canonicalOrigin(o); err == nil {
			cfg.AllowedOrigins[i] = canon
		}
	}
	if err := config.Check(l, &cfg, defaultConfig(), Config.validate); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// GatewayConfig returns the settings shared with bff-mobile.
func (c Config) GatewayConfig() gateway.Config { return c.Base }

// ListenAddr is Addr.
func (c Config) ListenAddr() string { return c.Addr }

func (c Config) validate() error {
	errs := []error{c.Base.Validate()}
	switch strings.ToLower(c.Session.SameSite) {
	case "lax", "strict":
	case "none":
		if !c.Session.Secure {
			errs = append(errs, errors.New("BFF_COOKIE_SAMESITE=None requires BFF_COOKIE_SECURE=true"))
		}
	default:
		errs = append(errs, fmt.Errorf("BFF_COOKIE_SAMESITE=%q: want Lax, Strict or None", c.Session.SameSite))
	}
	for _, ck := range []struct{ name, value string }{
		{"BFF_COOKIE_NAME", c.Session.CookieName},
		{"BFF_CSRF_COOKIE_NAME", c.Session.CSRFCookieName},
	} {
		if !isCookieName(ck.value) {
			errs = append(errs, fmt.Errorf("%s=%q: want a cookie name: letters, digits and !#$%%&'*+-.^_`|~", ck.name, ck.value))
		}
	}
	// Login sets both cookies: under one name, the CSRF token would replace
	// the session id and every later request would be refused.
	if c.Session.CookieName == c.Session.CSRFCookieName {
		errs = append(errs, fmt.Errorf("BFF_CSRF_COOKIE_NAME=%q: the same as BFF_COOKIE_NAME; the two cookies need different names", c.Session.CSRFCookieName))
	}
	if err := c.Session.Lifetime.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, o := range c.AllowedOrigins {
		if _, err := canonicalOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("BFF_ALLOWED_ORIGINS: %q is not an origin such as https://shop.example.com: %w", o, err))
		}
	}
	return errors.Join(errs...)
}

// canonicalOrigin returns the origin o in the form a browser sends in an
// Origin header, which the CORS check compares byte for byte: scheme and
// host in lower case, no port when it is the scheme's default. It refuses
// anything but scheme://host[:port] with scheme http or https.
func canonicalOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return "", errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("the scheme must be http or https")
	case u.Opaque != "" || u.Hostname() == "":
		return "", errors.New("no host")
	case u.User != nil:
		return "", errors.New("a user name or password is not part of an origin")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(o, "#"):
		return "", errors.New("a path, query or fragment is not part of an origin")
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", errors.New("not an IPv6 address between the brackets")
		}
		host = "[" + ip.String() + "]"
	} else if strings.IndexFunc(host, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' && r != '_'
	}) >= 0 {
		return "", errors.New("the host must be an ASCII name (an international one in its xn-- form) or an IP address")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n > 65535 {
			return "", errors.New("the port is out of range")
		}
		if n != map[string]int{"http": 80, "https": 443}[u.Scheme] {
			host += ":" + strconv.Itoa(n)
		}
	}
	return u.Scheme + "://" + host, nil
}

// isCookieName reports whether s is a cookie name as RFC 6265 defines it, a
// token: printable ASCII except the separators ()<>@,;:\"/[]?={} and space.
func isCookieName(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) < 0
}
