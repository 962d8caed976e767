package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/strata-cache/strata/internal/gateway"
)

// This file puts the gateway (Options.Gateway) in front of every route.
//
//   - Authentication: every route needs a valid key ("Authorization:
//     Bearer <key>" or "X-API-Key: <key>"), else 401 with
//     WWW-Authenticate (RFC 6750). /livez and /readyz are the exception:
//     they answer without a key, because they reveal nothing (a fixed
//     status, and for /readyz "starting" or "shutting down") and liveness
//     and readiness probes (Kubernetes, load balancers) cannot carry
//     credentials. Everything else, unknown routes included, answers 401
//     first, so an anonymous client cannot even map the routes.
//   - Authorization: each route needs a scope (routeScope), and a key
//     route's key, every key of a POST /v1/mget body and the key a
//     resource route builds must lie within the key's prefixes; else 403.
//   - Rate limits: data routes (keys, resources, explain, mget) take one
//     token from the key's bucket and carry RateLimit-* headers; a refusal
//     is 429 with Retry-After. /metrics and /v1/stats need the admin scope
//     but are exempt from the data limit, so monitoring keeps working
//     while an application is throttled.
//
// The errors go through the one error table (problem.go) like every other.

// routeScope returns the scope a route needs and whether it is a data
// route (rate limited). A route not listed needs only authentication.
func routeScope(route string) (scope gateway.Scope, data bool) {
	switch route {
	case RouteKVGet, RouteKVHead, RouteMGet, RouteResource, RouteExplain:
		return gateway.ScopeRead, true
	case RouteKVPut, RouteKVDelete:
		return gateway.ScopeWrite, true
	case RouteMetrics, RouteStats, RouteKeys, RouteSlowlog:
		return gateway.ScopeAdmin, false
	}
	return 0, false
}

// openRoute reports whether a route answers without authentication. The
// console's static assets (RouteUI) are open too: console.go says why.
func openRoute(route string) bool {
	return route == RouteLivez || route == RouteReadyz || route == RouteUI
}

// guard returns h, or when the gateway refuses the request a handler that
// answers the refusal. It records the principal in x for handlers that
// check keys only they can find (mget, resource routes).
func (a *API) guard(x *exchange, r *http.Request, h handler) handler {
	g := a.gw
	if g == nil || !g.Required() || openRoute(x.route) {
		x.principal = gateway.Anonymous
		return h
	}
	if err := a.admit(x, r); err != nil {
		return func(*API, *exchange, *http.Request) error { return err }
	}
	return h
}

// admit authenticates, authorizes and rate-limits the request.
func (a *API) admit(x *exchange, r *http.Request) error {
	g := a.gw
	p, err := g.AuthenticateRequest(r)
	if err != nil {
		x.Header().Set("WWW-Authenticate", gateway.Challenge(err))
		return err
	}
	x.principal = p
	scope, data := routeScope(x.route)
	var keys []string
	switch x.route {
	case RouteKVGet, RouteKVHead, RouteKVPut, RouteKVDelete:
		if k, err := decodeKey(x.path[len(kvPrefix):]); err == nil {
			keys = []string{k}
		}
	case RouteExplain:
		if k, err := decodeKey(x.path[len(explainPrefix):]); err == nil {
			keys = []string{k}
		}
	}
	// A key that does not decode is left to the handler, which answers
	// 400 for it; it reaches no data.
	if err := g.Authorize(p, scope, keys...); err != nil {
		return a.forbidden(x, err)
	}
	if data {
		q, err := g.Allow(p)
		q.SetHeaders(x.Header())
		if err != nil {
			return err
		}
	}
	return nil
}

// authorizeKeys checks keys a handler found in the body or built from the
// path against the request's principal: nil, or a 403 error.
func (a *API) authorizeKeys(x *exchange, scope gateway.Scope, keys ...string) error {
	if a.gw == nil || x.principal == nil || x.principal == gateway.Anonymous {
		return nil
	}
	if err := a.gw.Authorize(x.principal, scope, keys...); err != nil {
		return a.forbidden(x, err)
	}
	return nil
}

// forbidden names the route in a *gateway.ForbiddenError and sets the
// insufficient_scope challenge.
func (a *API) forbidden(x *exchange, err error) error {
	var fe *gateway.ForbiddenError
	if errors.As(err, &fe) && fe.Command == "" {
		fe.Command = x.route
	}
	if c := gateway.Challenge(err); c != "" {
		x.Header().Set("WWW-Authenticate", c)
	}
	return err
}

// clientAddr returns the client's address for the access log: the TCP
// peer, or the address a trusted proxy forwarded (gateway.trusted_proxies).
func (a *API) clientAddr(r *http.Request) string {
	if a.gw == nil {
		return clientIP(r.RemoteAddr)
	}
	return a.gw.ClientIPFromRequest(r)
}

// principalName is the name the access log records as user.name, "" when
// the request did not authenticate.
func principalName(x *exchange) string {
	if x.principal == nil {
		return ""
	}
	return strings.Clone(x.principal.Name)
}
