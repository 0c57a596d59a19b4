package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: percentile must sort
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"median of even is the lower", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range []string{
		"events/apigw/hello.json", "events/apigw/webhook-verify.json", "events/apigw/webhook-message.json",
		"events/apigw/api-list.json", "events/sqs/outbound.json", "events/media/own.json", "custom/x.json",
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		spec, defaultGlob string
		wantName, wantPkg string
		wantEvents        []string
	}{
		{"webhook", "", "webhook", "./functions/webhook",
			[]string{"events/apigw/webhook-message.json", "events/apigw/webhook-verify.json"}},
		{"api", "", "api", "./functions/api", []string{"events/apigw/api-list.json"}},
		// Nothing named after send: every event its trigger delivers.
		{"send", "", "send", "./functions/send", []string{"events/sqs/outbound.json"}},
		{"media", "", "media", "./functions/media", []string{"events/media/own.json"}},
		{"hello", "", "hello", "./scripts/hello", []string{"events/apigw/hello.json"}},
		{"inbound=custom/*.json", "", "inbound", "./functions/inbound", []string{"custom/x.json"}},
		{"send", "custom/*.json", "send", "./functions/send", []string{"custom/x.json"}},
		{"scripts/tool=custom/*.json", "", "tool", "./scripts/tool", []string{"custom/x.json"}},
		{"./functions/api=custom/*.json", "", "api", "./functions/api", []string{"custom/x.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec+" "+tt.defaultGlob, func(t *testing.T) {
			got, err := parseTarget(tt.spec, tt.defaultGlob)
			if err != nil {
				t.Fatal(err)
			}
			if got.name != tt.wantName || got.pkg != tt.wantPkg || !slices.Equal(got.events, tt.wantEvents) {
				t.Errorf("got %+v, want name %s, pkg %s, events %v", got, tt.wantName, tt.wantPkg, tt.wantEvents)
			}
		})
	}

	// No events/nosuchfn/ and no trigger known for it.
	if _, err := parseTarget("nosuchfn", ""); err == nil || !strings.Contains(err.Error(), "no sample events") {
		t.Errorf("nosuchfn without events: err = %v, want no sample events", err)
	}
}

func TestCycle(t *testing.T) {
	got := cycle([][]byte{[]byte("a"), []byte("b")}, 5)
	want := []string{"a", "b", "a", "b", "a"}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("event %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// TestRunReportsInitFailure runs the whole command on a bootstrap that exits
// at once: the table must say so, the log tail must be shown, and the
// command must fail.
func TestRunReportsInitFailure(t *testing.T) {
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	script := "#!/bin/sh\necho 'config: TABLE_NAME is not set' >&2\nexit 3\n"
	if err := os.WriteFile(bootstrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ok, err := run(context.Background(), &stdout, &stderr, config{
		fns: listFlag{"webhook=" + event}, bootstrap: bootstrap, n: 2, cold: 1, timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("run reported success for a bootstrap that cannot start")
	}
	for _, want := range []string{"INIT FAILED", "Runtime.ExitError", "exit status 3", "TABLE_NAME is not set"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}
