package queue

import (
	"math/rand/v2"
	"time"
)

// Backoff is the delay before attempt+1 after attempt was refused for now
// (a rate limit): base doubled per attempt, capped at MaxDelay (the longest
// delay a queue takes), plus up to a quarter of jitter so messages throttled
// together do not come back together.
func Backoff(attempt int, base time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < MaxDelay; i++ {
		d *= 2
	}
	d += rand.N(d/4 + 1)
	return min(d, MaxDelay)
}
