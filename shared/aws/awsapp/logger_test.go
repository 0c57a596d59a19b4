package awsapp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/metric"
)

// Lambda's JSON log format reads "level" and an RFC 3339 "timestamp" from
// a custom runtime's JSON lines, filters by the application log level it
// puts in AWS_LAMBDA_LOG_LEVEL, and passes the fields on for the metric
// filters (the "metric" field at the top level).
func TestLoggerSpeaksLambdasJSONLogFormat(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "")
	log.Warn("send in doubt", "org", "acme", metric.SendInDoubt.Attr())
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON object: %q", buf.String())
	}
	if line["level"] != "WARN" || line["msg"] != "send in doubt" || line["metric"] != "send_in_doubt" || line["org"] != "acme" {
		t.Errorf("line %v", line)
	}
	ts, _ := line["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q: want RFC 3339 in UTC (%v)", ts, err)
	}
	if _, ok := line["time"]; ok {
		t.Error(`"time" written beside "timestamp"`)
	}
}

func TestLoggerHonoursLambdasLogLevel(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  []string // of DEBUG, INFO, WARN, ERROR
	}{
		{"", []string{"INFO", "WARN", "ERROR"}},
		{"TRACE", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"DEBUG", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"INFO", []string{"INFO", "WARN", "ERROR"}},
		{"WARN", []string{"WARN", "ERROR"}},
		{"warn", []string{"WARN", "ERROR"}},
		{"ERROR", []string{"ERROR"}},
		{"FATAL", nil},
		{"nonsense", []string{"INFO", "WARN", "ERROR"}},
	} {
		var buf bytes.Buffer
		log := NewLogger(&buf, tt.level)
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		var got []string
		dec := json.NewDecoder(&buf)
		for dec.More() {
			var line struct{ Level string }
			if err := dec.Decode(&line); err != nil {
				t.Fatal(err)
			}
			got = append(got, line.Level)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("level %q: wrote %v, want %v", tt.level, got, tt.want)
		}
	}
}
