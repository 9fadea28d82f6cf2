// Package contract checks HTTP exchanges against a BFF's published OpenAPI
// 3.1 document, so that end-to-end tests fail as soon as a response drifts
// from what frontends were promised.
//
// A response passes when its request's method and path match a documented
// operation, its status is one the operation lists, every header the
// response object declares is present when required and valid when sent, no
// header the document declares on some response appears where it is not
// declared, and its body (decoded from any Content-Encoding) has a
// documented content type and matches that schema. A request the server
// accepted (status below 400) must also satisfy the document: its
// parameters, credentials and body. An unmatched route must be answered
// with a 404 or 405 problem document. CORS preflights are not checked: they
// belong to the CORS protocol, not to an operation.
//
// kin-openapi loads and validates the document, routes requests, checks
// credentials and, with its own validator, the simple schemas of headers and
// parameters. Bodies are checked with JSON Schema 2020-12 (the dialect of
// OpenAPI 3.1) by santhosh-tekuri/jsonschema, each schema compiled once:
// kin-openapi's validator for 3.1 compiles a schema on every validation,
// which made checking cost more CPU than the requests under test and slowed
// the concurrency tests.
package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	json "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fasthttp"
)

// ProblemSchema names the component schema every unmatched route's answer
// must satisfy.
const ProblemSchema = "Problem"

// docURL is where the document sits for the schema compiler; schemas are
// compiled at JSON pointers into it, so their $refs resolve as written.
const docURL = "file:///openapi.json"

// Contract is a loaded, validated OpenAPI document. It is safe for
// concurrent use.
type Contract struct {
	doc     *openapi3.T
	router  routers.Router
	exclude map[string]bool
	// headers is the document's header vocabulary: every header declared on
	// some response, canonicalized.
	headers map[string]bool
	// options make kin-openapi check a request's credentials.
	options *openapi3filter.Options

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

// Option configures Load.
type Option func(*Contract)

// Exclude leaves exchanges on these exact paths unchecked: operational
// endpoints (health probes, metrics) that are not part of the published API.
func Exclude(paths ...string) Option {
	return func(c *Contract) {
		for _, p := range paths {
			c.exclude[p] = true
		}
	}
}

// Load parses an OpenAPI 3.1 JSON document, resolves its internal
// references, and validates it (examples included) before anything is
// checked against it.
func Load(data []byte, opts ...Option) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("load OpenAPI document: version %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	// Requests are matched by path alone: the test servers listen on ports
	// of their own, wherever the document says the BFF is served.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat()
	if err := compiler.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	c := &Contract{
		doc:      doc,
		router:   router,
		exclude:  map[string]bool{},
		headers:  map[string]bool{},
		options:  &openapi3filter.Options{AuthenticationFunc: credentialsPresent},
		compiler: compiler,
		schemas:  map[string]*jsonschema.Schema{},
	}
	if doc.Components == nil || doc.Components.Schemas[ProblemSchema] == nil {
		return nil, fmt.Errorf("OpenAPI document: components.schemas.%s is missing", ProblemSchema)
	}
	if _, err := c.schema("/components/schemas/" + ProblemSchema); err != nil {
		return nil, err
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				for name := range resp.Value.Headers {
					c.headers[http.CanonicalHeaderKey(name)] = true
				}
			}
		}
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Operation is one documented method and path template.
type Operation struct {
	Method string
	// Path is the template, with {name} parameters ("/v1/orders/{id}").
	Path string
}

// Operations lists the documented operations, sorted by path then method.
func (c *Contract) Operations() []Operation {
	var ops []Operation
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, Operation{Method: method, Path: path})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops
}

// Describes reports whether the document has an operation for method and
// pattern; pattern's parameters may be written {name} or, as Fiber registers
// them, :name.
func (c *Contract) Describes(method, pattern string) bool {
	item := c.doc.Paths.Value(Template(pattern))
	return item != nil && item.GetOperation(strings.ToUpper(method)) != nil
}

// Template rewrites a Fiber route pattern ("/v1/orders/:id") as an OpenAPI
// path template ("/v1/orders/{id}").
func Template(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// Violation is an exchange the document does not describe.
type Violation struct {
	Method string
	Path   string
	Status int
	// Reason says what does not match.
	Reason string
	// Err is the validator's finding, when it has one.
	Err error
}

func (v *Violation) Error() string {
	msg := fmt.Sprintf("%s %s → %d: %s", v.Method, v.Path, v.Status, v.Reason)
	if v.Err != nil {
		msg += ": " + v.Err.Error()
	}
	return msg
}

func (v *Violation) Unwrap() error { return v.Err }

// Check judges one exchange: req as sent (its Body, when not nil, still
// unread) and the response's status, header and body as received. It returns
// nil or a *Violation.
func (c *Contract) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if c.exclude[req.URL.Path] || isPreflight(req) {
		return nil
	}
	fail := func(err error, format string, args ...any) error {
		return &Violation{Method: req.Method, Path: req.URL.RequestURI(), Status: status, Reason: fmt.Sprintf(format, args...), Err: err}
	}
	decoded, err := decodeBody(header.Get("Content-Encoding"), body)
	if err != nil {
		return fail(err, "undecodable body")
	}
	// A HEAD is its GET without the body.
	lookup := req
	if req.Method == http.MethodHead {
		lookup = req.Clone(req.Context())
		lookup.Method = http.MethodGet
	}
	route, params, err := c.router.FindRoute(lookup)
	if err != nil {
		return c.checkUnrouted(status, header, decoded, err, fail)
	}
	ref, at := responseOf(route, status)
	if ref == nil || ref.Value == nil {
		return fail(nil, "status %d is not documented for %s %s", status, route.Method, route.Path)
	}
	resp := ref.Value
	if err := c.checkHeaderVocabulary(resp, header); err != nil {
		return fail(err, "undocumented header")
	}
	if err := checkHeaders(resp, header); err != nil {
		return fail(err, "header")
	}
	switch {
	case req.Method == http.MethodHead || status == http.StatusNotModified:
		if len(decoded) > 0 {
			return fail(nil, "a %s answer with status %d has a body", req.Method, status)
		}
	case len(resp.Content) == 0:
		if len(decoded) > 0 {
			return fail(nil, "the documented response has no content, got %d bytes", len(decoded))
		}
	default:
		if err := c.checkBody(resp.Content, at, header.Get("Content-Type"), decoded); err != nil {
			return fail(err, "response body")
		}
	}
	if status < http.StatusBadRequest {
		// The server accepted the request, so the document must accept it too.
		if err := c.checkRequest(req, route, params); err != nil {
			return fail(err, "request accepted by the server is not valid by the document")
		}
	}
	return nil
}

// responseOf finds the response object of status and the JSON pointer it
// sits at (where its own $ref leads, when it has one).
func responseOf(route *routers.Route, status int) (*openapi3.ResponseRef, string) {
	base := "/paths/" + escapePointer(route.Path) + "/" + strings.ToLower(route.Method) + "/responses/"
	for _, key := range []string{strconv.Itoa(status), strconv.Itoa(status/100) + "XX"} {
		if ref := route.Operation.Responses.Value(key); ref != nil {
			return ref, refPointer(ref.Ref, base+key)
		}
	}
	return nil, ""
}

// checkRequest checks the credentials (with kin-openapi), the parameters
// and the body.
func (c *Contract) checkRequest(req *http.Request, route *routers.Route, params map[string]string) error {
	var body []byte
	if req.Body != nil {
		b, err := readAll(req)
		if err != nil {
			return err
		}
		body = b
	}
	security := route.Operation.Security
	if security == nil {
		security = &route.Spec.Security
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.options}
	if err := openapi3filter.ValidateSecurityRequirements(context.Background(), in, *security); err != nil {
		return err
	}
	if err := checkParams(req, route, params); err != nil {
		return err
	}
	rb := route.Operation.RequestBody
	switch {
	case rb == nil || rb.Value == nil:
		if len(body) > 0 {
			return errors.New("a body was sent where none is documented")
		}
		return nil
	case len(body) == 0:
		if rb.Value.Required {
			return errors.New("the required body is missing")
		}
		return nil
	}
	at := refPointer(rb.Ref, "/paths/"+escapePointer(route.Path)+"/"+strings.ToLower(route.Method)+"/requestBody")
	return c.checkBody(rb.Value.Content, at, req.Header.Get("Content-Type"), body)
}

// checkParams checks the operation's parameters (and its path's, unless
// the operation redefines them): present when required, and matching their
// schema when sent. Parameter schemas are simple, so kin-openapi's own
// validator checks them.
func checkParams(req *http.Request, route *routers.Route, pathParams map[string]string) error {
	var all openapi3.Parameters
	for _, p := range route.PathItem.Parameters {
		if route.Operation.Parameters.GetByInAndName(p.Value.In, p.Value.Name) == nil {
			all = append(all, p)
		}
	}
	all = append(all, route.Operation.Parameters...)
	query := req.URL.Query()
	for _, ref := range all {
		p := ref.Value
		var raw string
		var found bool
		switch p.In {
		case openapi3.ParameterInPath:
			raw, found = pathParams[p.Name]
		case openapi3.ParameterInQuery:
			found = query.Has(p.Name)
			raw = query.Get(p.Name)
		case openapi3.ParameterInHeader:
			raw = req.Header.Get(p.Name)
			found = raw != ""
		case openapi3.ParameterInCookie:
			if ck, err := req.Cookie(p.Name); err == nil {
				raw, found = ck.Value, true
			}
		}
		if !found {
			if p.Required {
				return fmt.Errorf("%s parameter %q missing", p.In, p.Name)
			}
			continue
		}
		if p.Schema == nil || p.Schema.Value == nil {
			continue
		}
		if err := visitString(p.Schema.Value, raw); err != nil {
			return fmt.Errorf("%s parameter %q: %w", p.In, p.Name, err)
		}
	}
	return nil
}

// visitString checks a parameter or header value against a simple schema,
// reading it as the schema's type.
func visitString(s *openapi3.Schema, raw string) error {
	var v any = raw
	switch {
	case s.Type.Is("integer"):
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", raw)
		}
		v = float64(n)
	case s.Type.Is("number"):
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", raw)
		}
		v = n
	case s.Type.Is("boolean"):
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", raw)
		}
		v = b
	}
	return s.VisitJSON(v, openapi3.SetSchemaErrorMessageCustomizer(shortSchemaError))
}

// checkBody checks a JSON body against the schema of its content type in
// content, which sits at the JSON pointer at.
func (c *Contract) checkBody(content openapi3.Content, at, contentType string, body []byte) error {
	mt := content.Get(contentType)
	if mt == nil {
		return fmt.Errorf("Content-Type %q is not documented", contentType)
	}
	if mt.Schema == nil {
		return nil
	}
	key := ""
	for k, v := range content {
		if v == mt {
			key = k
		}
	}
	if !isJSON(key) {
		return nil // only JSON is served; another media type would be described, not checked
	}
	sch, err := c.schema(at + "/content/" + escapePointer(key) + "/schema")
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("doesn't match schema %s: %w", at, err)
	}
	return nil
}

// schema compiles, once, the schema at the JSON pointer ptr.
func (c *Contract) schema(ptr string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.schemas[ptr]; ok {
		return s, nil
	}
	u := url.URL{Scheme: "file", Path: "/openapi.json", Fragment: ptr}
	s, err := c.compiler.Compile(u.String())
	if err != nil {
		return nil, fmt.Errorf("compile the schema at %s: %w", ptr, err)
	}
	c.schemas[ptr] = s
	return s, nil
}

// checkUnrouted accepts, for a request the document has no operation for,
// only the BFF's 404 or 405 problem document.
func (c *Contract) checkUnrouted(status int, header http.Header, body []byte, routeErr error, fail func(error, string, ...any) error) error {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return fail(routeErr, "undocumented operation answered %d, want a 404 or 405 problem", status)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fail(routeErr, "undocumented operation answered with Content-Type %q, want application/problem+json", ct)
	}
	sch, err := c.schema("/components/schemas/" + ProblemSchema)
	if err != nil {
		return fail(err, "problem schema")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fail(err, "problem body is not JSON")
	}
	if err := sch.Validate(v); err != nil {
		return fail(err, "problem body does not match components.schemas.%s", ProblemSchema)
	}
	return nil
}

// checkHeaderVocabulary refuses a header the document declares on some
// response but not on this one: such a header is part of the contract, and
// a response carrying it undeclared means the document is out of date.
func (c *Contract) checkHeaderVocabulary(resp *openapi3.Response, header http.Header) error {
	declared := map[string]bool{}
	for name := range resp.Headers {
		declared[http.CanonicalHeaderKey(name)] = true
	}
	var extra []string
	for name := range header {
		name = http.CanonicalHeaderKey(name)
		if c.headers[name] && !declared[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("%s sent but not declared on this response", strings.Join(extra, ", "))
	}
	return nil
}

// checkHeaders checks the declared headers: present when required, and
// matching their schema when sent. Header schemas are simple (a type, a
// pattern, bounds), so kin-openapi's own validator checks them.
func checkHeaders(resp *openapi3.Response, header http.Header) error {
	names := make([]string, 0, len(resp.Headers))
	for name := range resp.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		h := resp.Headers[name].Value
		raw := header.Get(name)
		if raw == "" {
			if h.Required {
				return fmt.Errorf("response header %q missing", name)
			}
			continue
		}
		if h.Schema == nil || h.Schema.Value == nil {
			continue
		}
		if err := visitString(h.Schema.Value, raw); err != nil {
			return fmt.Errorf("response header %q doesn't match its schema: %w", name, err)
		}
	}
	return nil
}

// shortSchemaError says where a value breaks its schema and how, with the
// value cut short: the validator's own message dumps the whole schema and
// value.
func shortSchemaError(err *openapi3.SchemaError) string {
	v, _ := json.Marshal(err.Value)
	if len(v) > 200 {
		v = append(v[:200:200], "..."...)
	}
	reason := err.Reason
	if reason == "" {
		reason = "does not match " + err.SchemaField
	}
	return fmt.Sprintf("at %q: %s (value %s)", "/"+strings.Join(err.JSONPointer(), "/"), reason, v)
}

// refPointer is the JSON pointer a local $ref leads to, or at when there is
// no $ref.
func refPointer(ref, at string) string {
	if p, ok := strings.CutPrefix(ref, "#"); ok {
		return p
	}
	return at
}

// escapePointer escapes one JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// isPreflight tells a CORS preflight, which belongs to the CORS protocol
// rather than to an operation of the API.
func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != ""
}

func isJSON(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func readAll(req *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(req.Body); err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeBody undoes a Content-Encoding the client did not undo itself (it
// does not when the test asked for the encoding explicitly).
func decodeBody(encoding string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, nil
	case "gzip":
		return fasthttp.AppendGunzipBytes(nil, body)
	case "br":
		return fasthttp.AppendUnbrotliBytes(nil, body)
	case "deflate":
		return fasthttp.AppendInflateBytes(nil, body)
	case "zstd":
		return fasthttp.AppendUnzstdBytes(nil, body)
	default:
		return nil, fmt.Errorf("unknown Content-Encoding %q", encoding)
	}
}

// credentialsPresent stands in for authentication when a request the server
// accepted is checked: the server verified the credentials, the document
// only promises where they travel.
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	r := in.RequestValidationInput.Request
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return nil
		}
	case s.Type == "apiKey" && s.In == "cookie":
		if ck, err := r.Cookie(s.Name); err == nil && ck.Value != "" {
			return nil
		}
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) != "" {
			return nil
		}
	}
	return in.NewError(errors.New("credentials absent"))
}
