package httpapi

import (
	"fmt"
	"net/http"
)

// livez serves /livez: 200 for as long as the process can answer at all. It
// checks nothing else on purpose: a failing liveness probe restarts the
// process, which never fixes a dependency.
func (a *API) livez(x *exchange, r *http.Request) error {
	return writeJSON(x, r, http.StatusOK, map[string]string{"status": "live"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
}

// readyz serves /readyz: 200 {"status":"ready"} while Options.Ready says so,
// otherwise 503 {"status":"not ready","reasons":[...]}, for load balancers
// and orchestrators to stop sending traffic (during start-up and drain).
func (a *API) readyz(x *exchange, r *http.Request) error {
	if a.ready != nil {
		if ok, reasons := a.ready(); !ok {
			if len(reasons) == 0 {
				reasons = []string{"not ready"}
			}
			return writeJSON(x, r, http.StatusServiceUnavailable, readiness{Status: "not ready", Reasons: reasons})
		} else if len(reasons) > 0 {
			// Ready but degraded (e.g. reads bypass a stale cache): still
			// 200, with the reasons.
			return writeJSON(x, r, http.StatusOK, readiness{Status: "degraded", Reasons: reasons})
		}
	}
	return writeJSON(x, r, http.StatusOK, readiness{Status: "ready"})
}

// serveMetrics serves /metrics from Options.Gatherer through promhttp.
func (a *API) serveMetrics(x *exchange, r *http.Request) error {
	if a.metricsH == nil {
		return fmt.Errorf("%w: this server has no metrics registry", ErrNotConfigured)
	}
	a.metricsH.ServeHTTP(x, r)
	return nil
}

// serveStats serves /v1/stats: the JSON snapshot Options.Stats builds.
func (a *API) serveStats(x *exchange, r *http.Request) error {
	if a.stats == nil {
		return fmt.Errorf("%w: this server has no stats source", ErrNotConfigured)
	}
	return writeJSON(x, r, http.StatusOK, a.stats())
}
