// Package loadgen is strata's load generator: it drives a Redis-protocol
// (RESP) or HTTP server with a configurable key-value workload and reports
// throughput, errors, the client-side hit ratio and latency percentiles from
// HDR histograms, as text, JSON and a percentile plot.
//
// The same generator runs against strata, redis-server, nginx or any HTTP
// service with a URL template, so reports from different servers are
// comparable: same client code, same key choice, same timing rules.
//
// Two loop disciplines are offered. In a closed loop every connection sends
// its next request (or pipeline batch) as soon as the previous replies are in;
// this measures capacity. In an open loop requests are scheduled on a fixed
// timeline per connection at a target rate, and latency is measured from the
// intended send time rather than the actual one. A server that stalls for
// 200 ms therefore shows up as 200 ms of latency for every request that was due
// during the stall, instead of as one slow request followed by a quiet
// period: the generator does not "coordinate" with the server and omit the
// samples that would have been slow (Gil Tene's coordinated omission).
//
// The CLI in internal/cli (strata bench) is a thin wrapper around Run,
// Report.WriteText, Report.WriteJSON, Compare and WritePlot.
package loadgen
