// The console's only door to the node: fetch with the API key attached,
// and every failure turned into an ApiError whose message a person can act
// on (problem+json title and detail, the HTTP status, the request id).

const keyStorage = "strata.console.apiKey";

export function apiKey(): string {
  return sessionStorage.getItem(keyStorage) ?? "";
}

export function setApiKey(k: string): void {
  if (k) sessionStorage.setItem(keyStorage, k);
  else sessionStorage.removeItem(keyStorage);
}

/** ApiError is a failed request: the server's problem, or no answer at all. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number, // 0 when the server could not be reached
    readonly requestId = "",
  ) {
    super(message);
  }
}

interface Problem {
  title?: string;
  detail?: string;
  status?: number;
  request_id?: string;
}

/** request sends method path and returns the response, or throws ApiError. */
export async function request(method: string, path: string, accept = "application/json"): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept };
  const k = apiKey();
  if (k) headers.Authorization = `Bearer ${k}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, cache: "no-store" });
  } catch (e) {
    throw new ApiError(`${method} ${path}: cannot reach the node (${(e as Error).message})`, 0);
  }
  if (res.ok) return res;
  const rid = res.headers.get("X-Request-Id") ?? "";
  let msg = `${res.status} ${res.statusText}`;
  const text = await res.text();
  try {
    const p = JSON.parse(text) as Problem;
    msg = `${res.status} ${p.title ?? res.statusText}${p.detail ? `: ${p.detail}` : ""}`;
  } catch {
    if (text.trim()) msg += `: ${text.trim().slice(0, 200)}`;
  }
  if (res.status === 401 || res.status === 403) {
    msg += ". Enter an API key with the admin scope (and read, write for the key browser) under “API key…”.";
  }
  throw new ApiError(`${method} ${path}: ${msg}${rid ? ` (request id ${rid})` : ""}`, res.status, rid);
}

export async function getJSON<T>(path: string): Promise<T> {
  const res = await request("GET", path);
  return (await res.json()) as T;
}

/** keyPath is the /v1/kv/ path of key: every byte outside unreserved is escaped. */
export function kvPath(prefix: string, key: string): string {
  return prefix + encodeURIComponent(key).replace(/[!'()*.]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

// The /v1/stats document (internal/node/stats.go). Optional parts appear as
// the other issues land: resources, freshness (WAL), fleet (L2).
export interface TierStats {
  hits: number;
  misses: number;
  hit_ratio: number;
  evictions: number;
  expirations: number;
  keys: number;
  used_bytes: number;
  max_bytes: number;
}
export interface CommandStats {
  calls: number;
  errors: number;
  total_seconds: number;
}
export interface ResourceStats {
  hits: number;
  misses: number;
  hit_ratio: number;
  negative_hits: number;
  coalesced_waiters: number;
  origin_queries: Record<string, number>;
  origin_query_seconds_total: number;
  stale_served: Record<string, number>;
  bypass_reads: Record<string, number>;
  fills_rejected: number;
}
export interface LatencyStats {
  buckets_seconds: number[];
  counts: number[];
  count: number;
  sum_seconds: number;
  p50_seconds: number;
  p99_seconds: number;
}
export interface Stats {
  version: string;
  time: string;
  uptime_seconds: number;
  ready: boolean;
  tiers: Record<string, TierStats>;
  clients: Record<string, number>;
  commands: Record<string, CommandStats>;
  total_commands: number;
  resources?: Record<string, ResourceStats>;
  goroutines: number;
  latency?: LatencyStats;
  freshness?: Record<string, unknown>;
  fleet?: Record<string, unknown>;
}

export interface KeyInfo {
  key: string;
  key_encoding?: string;
  type: string;
  ttl_ms?: number;
  bytes: number;
  memory_bytes: number;
  resource?: string;
}
export interface KeysPage {
  keys: KeyInfo[];
  cursor: string;
}
export interface SlowlogEntry {
  id: number;
  time: string;
  duration_us: number;
  args: string[];
  client_addr: string;
  client_name?: string;
}
export interface Slowlog {
  threshold_us: number;
  max_len: number;
  len: number;
  entries: SlowlogEntry[];
}
