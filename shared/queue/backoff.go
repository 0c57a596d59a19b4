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

// Throttle spaces out the attempts of a job its dependency refused for now
// (a rate limit): the consumer puts the job back on its queue with the
// delay Next gives, until MaxAttempts attempts were made in all.
type Throttle struct {
	MaxAttempts int           // attempts in all, the first included
	Base        time.Duration // the delay after the first; doubled after each
}

// Or fills the zero fields of t from def.
func (t Throttle) Or(def Throttle) Throttle {
	if t.MaxAttempts <= 0 {
		t.MaxAttempts = def.MaxAttempts
	}
	if t.Base <= 0 {
		t.Base = def.Base
	}
	return t
}

// Next returns the delay before the attempt after attempt (1 for the
// first), or false when attempt was the last one allowed.
func (t Throttle) Next(attempt int) (time.Duration, bool) {
	if attempt >= t.MaxAttempts {
		return 0, false
	}
	return Backoff(attempt, t.Base), true
}
