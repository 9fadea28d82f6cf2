package user

// TokenRequest is the body of POST /auth/token.
type TokenRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Token is the answer of POST /auth/token: an RS256 JWT with sub, iss, aud,
// exp, iat and jti.
type Token struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Address is one of a user's saved addresses.
type Address struct {
	ID         string `json:"id"`
	Label      string `json:"label"`
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
	Default    bool   `json:"default"`
}

// Preferences are a user's settings.
type Preferences struct {
	Currency        string `json:"currency"`
	Language        string `json:"language"`
	MarketingEmails bool   `json:"marketing_emails"`
}

// User is a profile from GET /users/{id}.
type User struct {
	ID          string      `json:"id"`
	Email       string      `json:"email"`
	Name        string      `json:"name"`
	Addresses   []Address   `json:"addresses"`
	Preferences Preferences `json:"preferences"`
}

// JWK is one public key of the JWKS (RFC 7517).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKS is the key set of GET /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}
