package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// make run takes another address without editing the config: ADDR reaches
// the command as -addr, WACRM_ADDR as its default, and the printed URLs
// and stack.json name the address the stack really listens on.
func TestRunOnAnotherAddress(t *testing.T) {
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "run", "ADDR=:9090", "CORS_ORIGINS=http://localhost:5173").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-addr :9090") || !strings.Contains(string(out), "-cors-origins http://localhost:5173") {
		t.Errorf("make run ADDR=:9090 runs %q, want -addr :9090 and -cors-origins", out)
	}

	bin := filepath.Join(t.TempDir(), "localstack")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	config, err := filepath.Abs("demo.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "-config", config)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WACRM_ADDR=:0") // any free port, host left out
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	printed := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Stop with Ctrl-C") {
				printed <- all.String()
			}
		}
	}()
	var text string
	select {
	case text = <-printed:
	case <-time.After(60 * time.Second):
		t.Fatal("the stack printed nothing within 60 s")
	}
	b, err := os.ReadFile(filepath.Join(dir, ".wacrm", "stack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		APIURL string `json:"apiURL"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.APIURL, "http://127.0.0.1:") || strings.HasSuffix(info.APIURL, ":0/v1") {
		t.Fatalf("stack.json apiURL %q: want the loopback address actually listened on", info.APIURL)
	}
	if !strings.Contains(text, info.APIURL+"/conversations") {
		t.Errorf("printed text does not name %s:\n%s", info.APIURL, text)
	}
	resp, err := http.Get(strings.TrimSuffix(info.APIURL, "/v1") + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz at the printed address: %v %v", resp, err)
	}
	resp.Body.Close()
}
