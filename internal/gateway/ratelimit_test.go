package gateway

import (
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func limitedGateway(t *testing.T, perSecond float64, burst int) (*Gateway, *Principal, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg := config.GatewayConfig{Keys: []config.KeyConfig{
		{Name: "app", Hash: HashKey(keyApp), Scopes: []string{"read"}, Rate: perSecond, Burst: burst},
	}}
	g := newTestGateway(t, cfg, Options{Now: clock.Now})
	p, err := g.Authenticate(keyApp)
	if err != nil {
		t.Fatal(err)
	}
	return g, p, clock
}

// TestRateHeldUnderDoubleLoad offers twice the configured rate for a
// simulated 20 s and checks that the admitted rate is the configured one
// within 5%, and that every refusal carries a Retry-After after which a
// request is admitted.
func TestRateHeldUnderDoubleLoad(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{100, 20}, {1000, 100}, {7.5, 1}, {50, 0}} {
		g, p, clock := limitedGateway(t, tc.rate, tc.burst)
		const window = 20 * time.Second
		// Rounded up to the nanosecond: with burst 1, arrivals exactly
		// two intervals apart must not fall a nanosecond short of a token.
		interval := time.Duration(math.Ceil(float64(time.Second) / (2 * tc.rate)))
		admitted, refused := 0, 0
		var nextOK time.Time // earliest time a refusal said to retry
		for elapsed := time.Duration(0); elapsed < window; elapsed += interval {
			q, err := g.Allow(p)
			if q.OK {
				admitted++
				if err != nil {
					t.Fatalf("OK with error %v", err)
				}
				if !nextOK.IsZero() && clock.Now().Before(nextOK) {
					t.Fatalf("admitted at %v, before the Retry-After of the last refusal (%v)", clock.Now(), nextOK)
				}
				nextOK = time.Time{}
			} else {
				refused++
				var rl *RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter != q.RetryAfter || q.RetryAfter <= 0 {
					t.Fatalf("refusal: quota %+v, err %v", q, err)
				}
				if q.RetryAfter > time.Duration(float64(time.Second)/tc.rate)+time.Nanosecond {
					t.Fatalf("RetryAfter %v exceeds one token's time at %v/s", q.RetryAfter, tc.rate)
				}
				if nextOK.IsZero() {
					nextOK = clock.Now().Add(q.RetryAfter)
				}
			}
			clock.Advance(interval)
		}
		got := float64(admitted) / window.Seconds()
		if math.Abs(got-tc.rate)/tc.rate > 0.05 {
			t.Errorf("rate %v/s burst %d: admitted %.2f/s (%d admitted, %d refused), want within 5%%",
				tc.rate, tc.burst, got, admitted, refused)
		}
		if refused == 0 {
			t.Errorf("rate %v/s: nothing refused at twice the rate", tc.rate)
		}
	}
}

// TestRetryAfterIsExact: a retry exactly RetryAfter later is admitted,
// and one a little earlier is not.
func TestRetryAfterIsExact(t *testing.T) {
	g, p, clock := limitedGateway(t, 3, 2)
	for range 2 {
		if q, _ := g.Allow(p); !q.OK {
			t.Fatal("burst refused")
		}
	}
	q, err := g.Allow(p)
	if q.OK || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("third request admitted: %+v", q)
	}
	want := time.Second / 3
	if d := q.RetryAfter - want; d < 0 || d > time.Microsecond {
		t.Fatalf("RetryAfter = %v, want %v", q.RetryAfter, want)
	}
	clock.Advance(q.RetryAfter - time.Millisecond)
	if q2, _ := g.Allow(p); q2.OK {
		t.Fatal("admitted before RetryAfter")
	}
	clock.Advance(time.Millisecond)
	if q3, err := g.Allow(p); !q3.OK {
		t.Fatalf("refused at RetryAfter: %+v %v", q3, err)
	}
}

func TestQuotaHeaders(t *testing.T) {
	g, p, clock := limitedGateway(t, 10, 20)
	q, _ := g.Allow(p)
	h := http.Header{}
	q.SetHeaders(h)
	// 19 tokens left; the bucket is full again after 1 token at 10/s.
	want := map[string]string{"RateLimit-Limit": "20", "RateLimit-Remaining": "19", "RateLimit-Reset": "1", "Retry-After": ""}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for range 19 {
		g.Allow(p)
	}
	q, err := g.Allow(p)
	if q.OK || err == nil {
		t.Fatal("21st request admitted")
	}
	h = http.Header{}
	q.SetHeaders(h)
	want = map[string]string{"RateLimit-Limit": "20", "RateLimit-Remaining": "0", "RateLimit-Reset": "2", "Retry-After": "1"}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("refused: %s = %q, want %q", k, got, v)
		}
	}
	clock.Advance(time.Hour)
	if q, _ := g.Allow(p); q.Remaining != 19 || q.Reset != 100*time.Millisecond {
		t.Errorf("after an idle hour: %+v", q)
	}
	// Unlimited principals get no headers.
	h = http.Header{}
	Quota{OK: true}.SetHeaders(h)
	if len(h) != 0 {
		t.Errorf("unlimited: headers %v", h)
	}
}

func TestBurstDefaultsToOneSecond(t *testing.T) {
	_, p, _ := limitedGateway(t, 2.5, 0)
	if ok, r, b := p.Limited(); !ok || r != 2.5 || b != 3 {
		t.Fatalf("Limited() = %v, %v, %v; want burst ceil(2.5) = 3", ok, r, b)
	}
	_, p, _ = limitedGateway(t, 0.1, 0)
	if _, _, b := p.Limited(); b != 1 {
		t.Fatalf("burst %d for 0.1/s, want 1", b)
	}
}

func TestAllowNOverBurst(t *testing.T) {
	g, p, _ := limitedGateway(t, 10, 5)
	q, err := g.AllowN(p, 6)
	if q.OK || !errors.Is(err, ErrRateLimited) || q.RetryAfter != 0 {
		t.Fatalf("AllowN over burst = %+v, %v", q, err)
	}
}
