package gateway

import (
	"errors"
	"net/http"
	"strings"
)

// HeaderAPIKey is the alternative to "Authorization: Bearer <key>" for
// clients that cannot set Authorization.
const HeaderAPIKey = "X-API-Key"

// maxCredential bounds the length of a credential accepted from a header;
// strata's keys are 46 characters, and a longer value is not one.
const maxCredential = 512

// Credential returns the API key an HTTP request presents: the token of
// "Authorization: Bearer <key>" (scheme case-insensitive), else the value
// of X-API-Key. It returns ErrNoAuth if there is neither, and ErrBadAuth
// for an Authorization header with another scheme, several credentials
// that disagree, or a value too long to be a key.
func Credential(h http.Header) (string, error) {
	var found []string
	for _, v := range h.Values("Authorization") {
		scheme, token, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", ErrBadAuth
		}
		found = append(found, strings.TrimSpace(token))
	}
	for _, v := range h.Values(HeaderAPIKey) {
		found = append(found, strings.TrimSpace(v))
	}
	if len(found) == 0 {
		return "", ErrNoAuth
	}
	for _, f := range found {
		if f != found[0] || f == "" || len(f) > maxCredential {
			return "", ErrBadAuth
		}
	}
	return found[0], nil
}

// AuthenticateRequest authenticates an HTTP request by its Credential. It
// returns Anonymous when no keys are configured, whatever the request
// carries.
func (g *Gateway) AuthenticateRequest(r *http.Request) (*Principal, error) {
	if !g.Required() {
		return Anonymous, nil
	}
	secret, err := Credential(r.Header)
	if err != nil {
		return nil, err
	}
	return g.Authenticate(secret)
}

// Challenge returns the WWW-Authenticate value for a 401 or 403 caused by
// err (RFC 6750): a bare Bearer challenge when the credential is missing,
// error="invalid_token" when it is wrong, error="insufficient_scope" when
// it lacks a scope. It returns "" for other errors.
func Challenge(err error) string {
	const base = `Bearer realm="strata"`
	switch {
	case errors.Is(err, ErrNoAuth):
		return base
	case errors.Is(err, ErrBadAuth):
		return base + `, error="invalid_token"`
	case errors.Is(err, ErrForbidden):
		return base + `, error="insufficient_scope"`
	}
	return ""
}
