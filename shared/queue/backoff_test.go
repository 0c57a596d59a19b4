package queue

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base := 2 * time.Second
	for attempt, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 8: 256 * time.Second, 20: MaxDelay} {
		for range 20 {
			got := Backoff(attempt, base)
			hi := min(want+want/4, MaxDelay)
			if got < min(want, MaxDelay) || got > hi {
				t.Fatalf("Backoff(%d) = %v, want %v..%v", attempt, got, want, hi)
			}
		}
	}
}

func TestBackoffOfMaxDelayBase(t *testing.T) {
	if got := Backoff(3, MaxDelay); got != MaxDelay {
		t.Errorf("Backoff with a base at the cap = %v, want %v", got, MaxDelay)
	}
}

func TestThrottle(t *testing.T) {
	th := Throttle{Base: time.Second}.Or(Throttle{MaxAttempts: 3, Base: time.Minute})
	if th.MaxAttempts != 3 || th.Base != time.Second {
		t.Fatalf("Or = %+v, want MaxAttempts from the default and Base kept", th)
	}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second} {
		d, ok := th.Next(attempt)
		if !ok || d < want || d > want+want/4 {
			t.Errorf("Next(%d) = %v %v, want about %v", attempt, d, ok, want)
		}
	}
	if d, ok := th.Next(3); ok {
		t.Errorf("Next(3) = %v, true; want false after the last attempt", d)
	}
}
