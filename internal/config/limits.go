package config

// validateLimits checks the connection limits and timeouts of both front
// ends added with the gateway (resp.write_timeout, resp.output_limit,
// resp.max_clients, http.read_timeout, http.write_timeout,
// http.max_header_bytes, http.max_batch_keys).
func (c Config) validateLimits(p *problems) {
	nonNegative(p, "resp.write_timeout", c.RESP.WriteTimeout)
	positive(p, "resp.output_limit", c.RESP.OutputLimit)
	if c.RESP.MaxClients <= 0 {
		p.add("resp.max_clients", "must be > 0, got %d", c.RESP.MaxClients)
	}
	nonNegative(p, "http.read_timeout", c.HTTP.ReadTimeout)
	nonNegative(p, "http.write_timeout", c.HTTP.WriteTimeout)
	positive(p, "http.max_header_bytes", c.HTTP.MaxHeaderBytes)
	if c.HTTP.MaxBatchKeys <= 0 {
		p.add("http.max_batch_keys", "must be > 0, got %d", c.HTTP.MaxBatchKeys)
	}
}
