// Number formatting and the histogram arithmetic the overview needs.

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return n.toFixed(n < 10 ? 1 : 0);
}

export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

export function fmtSeconds(s: number): string {
  if (s === 0) return "0";
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(2) + " ms";
  return s.toFixed(2) + " s";
}

export function fmtTTL(ms: number | undefined): string {
  if (ms === undefined) return "no expiry";
  if (ms < 1000) return ms + " ms";
  const s = Math.floor(ms / 1000);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h";
}

export function fmtPct(r: number | null): string {
  return r === null ? "–" : (r * 100).toFixed(1) + " %";
}

/**
 * quantile estimates the q-quantile of a histogram given as upper bounds and
 * cumulative counts, by linear interpolation in the bucket that holds it,
 * like Prometheus's histogram_quantile and node.Quantile on the server.
 * It returns null for an empty histogram.
 */
export function quantile(q: number, bounds: number[], counts: number[], total: number): number | null {
  if (total <= 0 || bounds.length === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c >= rank) {
      const inBucket = c - below;
      if (inBucket === 0) return bounds[i];
      return lower + ((bounds[i] - lower) * (rank - below)) / inBucket;
    }
    lower = bounds[i];
    below = c;
  }
  return bounds[bounds.length - 1];
}
