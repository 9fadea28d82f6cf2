// Package config reads typed settings from an injected getenv. It is the only
// package that knows settings come from the environment, and, with each
// BFF's loadConfig, the only one that names the variables: every package
// that has settings exports a Config whose fields document their defaults,
// and a DefaultConfig. A BFF starts from those defaults, loads its settings
// once through a Loader (LoadBase for the shared ones), and validates them
// before listening with Check, whose errors name the variables at fault.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"storefront.dev/shared/httpserver"
)

// Loader reads settings and collects every parse error, so a bad
// configuration is reported whole rather than one setting at a time.
type Loader struct {
	getenv func(string) string
	errs   []error
	// listens are the listen addresses read, each a field's address and
	// its variable, which Err checks pairwise.
	listens []listen
	// vars are the variables read, set or not, each with the field it
	// sets: Check names them in the errors of a validation.
	vars []variable
}

// variable is a setting read: its name, the address of the field it sets,
// and its value when it is set.
type variable struct {
	name, value string
	dst         any
	set         bool
	// secret says the value is a credential (see Secret).
	secret bool
}

// shown is how errors write v: NAME="value", the value hidden when it is
// a credential.
func (v variable) shown() string { return v.name + "=" + quote(v.value, v.secret) }

// quote is value quoted as errors write it. A credential's is hidden,
// all of it or, in a URL without a user part, all but its scheme and
// address, so that the error of a bad
// setting, logged by a process that will not start, gives no secret away.
func quote(value string, secret bool) string {
	if !secret {
		return strconv.Quote(value)
	}
	if strings.Contains(value, "@") {
		// A password may hold a slash, which ends what url.Parse takes
		// for the host: "redis://s3cr/t@host" has the host "s3cr".
		return "(hidden)"
	}
	if u, err := url.Parse(value); err == nil && u.Scheme != "" && u.Host != "" {
		// The scheme and the address only: a password may stand where
		// the user does ("redis://secret@host") or in the query.
		if shown := u.Scheme + "://" + u.Host; shown != value {
			return strconv.Quote(shown) + " (the rest hidden)"
		}
		return strconv.Quote(value)
	}
	return "(hidden)"
}

// listen is a listen address setting: the field it sets and its variable.
type listen struct {
	dst  *string
	name string
}

// NewLoader returns a Loader reading from getenv (os.Getenv in main).
func NewLoader(getenv func(string) string) *Loader { return &Loader{getenv: getenv} }

func (l *Loader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(l.getenv(name))
	return v, v != ""
}

// read looks name up for the field at dst, and records it for Check.
func (l *Loader) read(dst any, name string) (string, bool) {
	v, ok := l.lookup(name)
	l.vars = append(l.vars, variable{name: name, value: v, dst: dst, set: ok})
	return v, ok
}

func (l *Loader) fail(name, v string, err error) { l.failQuoted(name, quote(v, false), err) }

// failQuoted records err for name, whose value errors write as shown.
func (l *Loader) failQuoted(name, shown string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%s: %w", name, shown, err))
}

// String sets *dst from name when it is set.
func (l *Loader) String(dst *string, name string) {
	if v, ok := l.read(dst, name); ok {
		*dst = v
	}
}

// Secret is String for a credential (a password, a key, a URL that may
// hold a password): the errors that name the variable hide its value.
func (l *Loader) Secret(dst *string, name string) {
	l.String(dst, name)
	l.vars[len(l.vars)-1].secret = true
}

// Int sets *dst from name when it is set.
func (l *Loader) Int(dst *int, name string) {
	if v, ok := l.read(dst, name); ok {
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
	if v, ok := l.read(dst, name); ok {
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
	if v, ok := l.read(dst, name); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			l.fail(name, v, errors.New("not a non-negative duration such as 2s"))
			return
		}
		*dst = d
	}
}

// List sets *dst from a comma-separated name when it is set. A value of
// only commas and spaces is refused: unset, the variable keeps the default.
func (l *Loader) List(dst *[]string, name string) {
	if v, ok := l.read(dst, name); ok {
		if out := l.split(name, v); out != nil {
			*dst = out
		}
	}
}

// split returns the items of the list v, or nil, an error recorded, when
// it lists nothing.
func (l *Loader) split(name, v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if out == nil {
		l.fail(name, v, errors.New("lists nothing; leave it unset for the default"))
	}
	return out
}

// URLs sets *dst from a comma-separated list of base URLs of instances:
// http(s)://host[:port][/prefix], with a port from 1 to 65535 and no user,
// query or fragment, as the upstream client takes them; the error names the
// variable and the URL at fault.
func (l *Loader) URLs(dst *[]string, name string) {
	v, set := l.read(dst, name)
	if !set {
		return
	}
	list := l.split(name, v)
	if list == nil {
		return
	}
	ok := true
	for _, raw := range list {
		if err := checkBaseURL(raw); err != nil {
			// A user part may hold a password: such a URL is hidden.
			l.failQuoted(name, quote(raw, strings.Contains(raw, "@")), err)
			ok = false
		}
	}
	if ok {
		*dst = list
	}
}

// checkBaseURL reports why raw is not an instance's base URL, or nil.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Opaque != "":
		return errors.New("not an absolute http(s) URL")
	case u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("a user or password in an instance URL is not sent; leave it out")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("want scheme://host[:port][/prefix], without a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is not from 1 to 65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("an empty port; leave the colon out for the scheme's default")
	}
	return nil
}

// Addr sets *dst from name when it is set, to a listen address
// (host:port; see httpserver.CheckAddr). Err also refuses two listen
// addresses, set or default, that cannot be bound at once.
func (l *Loader) Addr(dst *string, name string) {
	l.listens = append(l.listens, listen{dst, name})
	if v, ok := l.read(dst, name); ok {
		if err := httpserver.CheckAddr(v); err != nil {
			l.fail(name, v, err)
			return
		}
		*dst = v
	}
}

// Err returns every error met so far, joined, or nil.
func (l *Loader) Err() error {
	errs := l.errs
	for i, a := range l.listens {
		for _, b := range l.listens[i+1:] {
			if httpserver.CheckAddr(*a.dst) == nil && httpserver.CheckAddr(*b.dst) == nil && httpserver.Collide(*a.dst, *b.dst) {
				errs = append(errs, fmt.Errorf("%s and %s: %s and %s take the same port; each listener needs one of its own",
					l.describe(a), l.describe(b), *a.dst, *b.dst))
			}
		}
	}
	return errors.Join(errs...)
}

// describe names a listen address's variable, and says whether its value
// is the default.
func (l *Loader) describe(a listen) string {
	if _, ok := l.lookup(a.name); ok {
		return a.name
	}
	return a.name + " (unset: default)"
}
