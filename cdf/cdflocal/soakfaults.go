package cdflocal

import (
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SoakFaults returns a Config.Faults function for long runs under abuse: about rate of the API
// requests (0..1) fail, seeded for repeatability, with what a CDF cluster does on a bad day:
//
//   - 429 storms: a throttled request starts a storm in which every request for the next
//     second is answered 429 (auto-retryable);
//   - 500, 502 and 503, on writes also after the write landed (the ambiguous failure);
//   - slow answers (1.5 s) and dropped connections, before or after a write;
//   - segment jobs that fail to start (503) and job reads that are slow;
//   - expired tokens: 401 "token expired", as CDF answers a token past its expiry.
//
// Downloads are never faulted (Config.Faults is not asked about them).
func SoakFaults(rate float64, seed uint64) func(*http.Request) *Fault {
	var mu sync.Mutex
	rng := mrand.New(mrand.NewPCG(seed, seed^0x51ed2705))
	var stormUntil time.Time
	return func(r *http.Request) *Fault {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Before(stormUntil) {
			return &Fault{Status: http.StatusTooManyRequests, AutoRetryable: true, Message: "Too many requests (a 429 storm injected by cdflocal)"}
		}
		if rng.Float64() >= rate {
			return nil
		}
		write := r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/list") && !strings.HasSuffix(r.URL.Path, "/byids") &&
			!strings.HasSuffix(r.URL.Path, "/search")
		job := strings.Contains(r.URL.Path, "/vision/")
		switch k := rng.IntN(10); {
		case k < 2:
			stormUntil = now.Add(time.Second)
			return &Fault{Status: http.StatusTooManyRequests, AutoRetryable: true}
		case k < 4:
			return &Fault{Status: []int{500, 502, 503}[rng.IntN(3)], AfterWrite: write && rng.IntN(2) == 0}
		case k < 5:
			return &Fault{Delay: 1500 * time.Millisecond, AfterWrite: write}
		case k < 6:
			return &Fault{Drop: true, AfterWrite: write && rng.IntN(2) == 0}
		case k < 8 && job:
			if r.Method == http.MethodPost {
				return &Fault{Status: http.StatusServiceUnavailable, Message: "The segment job could not be started (fault injected by cdflocal)"}
			}
			return &Fault{Delay: 1500 * time.Millisecond}
		default:
			return &Fault{Status: http.StatusUnauthorized, Message: "Unauthorized: the token has expired (fault injected by cdflocal)"}
		}
	}
}
