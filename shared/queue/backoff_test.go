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
