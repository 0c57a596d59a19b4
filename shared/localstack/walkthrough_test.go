package localstack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/localstack"
)

// walkthroughCommands returns the shell commands of the README section
// that starts with heading, from its sh blocks, in order (lines continued
// with a backslash joined, comments and blank lines left out).
func walkthroughCommands(t *testing.T, readme, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", readme, heading)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var cmds []string
	inBlock, pending := false, ""
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inBlock = true
			continue
		case strings.HasPrefix(line, "```"):
			inBlock = false
			continue
		}
		trimmed := strings.TrimSpace(line)
		if !inBlock || (pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#"))) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cmds = append(cmds, pending+line)
		pending = ""
	}
	if len(cmds) < 5 {
		t.Fatalf("only %d commands found in %q: the parser no longer matches the README", len(cmds), heading)
	}
	return cmds
}

// typeSection types the sh commands of the README section under heading,
// exactly as written, into a shell next to a fresh stack started from the
// demo config (make run's), the way a person would: one command at a
// time, the next once the stack has processed what the last one sent. Only
// `go run ./scripts/simulator` is replaced, by the same program built once.
// It returns a lookup of a command's output by a part of the command.
func typeSection(t *testing.T, heading string) func(part string) string {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("WACRM_REQUIRE_SERVERS") == "1" {
				t.Fatalf("the README walkthrough needs %s", tool)
			}
			t.Skipf("the README walkthrough needs %s", tool)
		}
	}
	cmds := walkthroughCommands(t, "../../README.md", heading)

	dir := t.TempDir()
	sim := filepath.Join(dir, "bin", "simulator")
	if out, err := exec.Command("go", "build", "-o", sim, "../../scripts/simulator").CombinedOutput(); err != nil {
		t.Fatalf("build the simulator: %v\n%s", err, out)
	}
	cfg, err := localstack.LoadConfig("../../scripts/localstack/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", filepath.Join(dir, ".wacrm")
	st, err := localstack.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	sh := exec.Command("bash", "--noprofile", "--norc")
	sh.Dir = dir // where make run keeps .wacrm
	sh.Env = append(os.Environ(), "SIM="+sim)
	stdin, _ := sh.StdinPipe()
	stdout, _ := sh.StdoutPipe()
	sh.Stderr = sh.Stdout
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = sh.Wait() }()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	fmt.Fprintln(stdin, "set -o pipefail")

	outputs := map[string]string{}
	for i, cmd := range cmds {
		typed := strings.ReplaceAll(cmd, "go run ./scripts/simulator", `"$SIM"`)
		marker := fmt.Sprintf("@@walkthrough %d done", i)
		fmt.Fprintf(stdin, "%s\necho \"%s $?\"\n", typed, marker)
		var out strings.Builder
		status := ""
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), marker+" "); ok {
				status = rest
				break
			}
			out.WriteString(lines.Text() + "\n")
		}
		if status != "0" {
			t.Fatalf("command %d exited %q:\n%s\n%s", i, status, cmd, out.String())
		}
		if strings.Contains(out.String(), `"error"`) {
			t.Fatalf("command %d answered an error:\n%s\n%s", i, cmd, out.String())
		}
		outputs[cmd] = out.String()
		waitIdle(t, st)
	}

	find := func(part string) string {
		t.Helper()
		for cmd, out := range outputs {
			if strings.Contains(cmd, part) {
				return out
			}
		}
		t.Fatalf("the walkthrough has no command with %q", part)
		return ""
	}
	return find
}

// TestReadmeWalkthrough types the README's "Play the customer" walkthrough
// (see typeSection) and checks what it shows.
func TestReadmeWalkthrough(t *testing.T) {
	find := typeSection(t, "## Play the customer")
	var page struct {
		Items []struct {
			OwnerID  string `json:"ownerId"`
			Customer struct {
				Name string `json:"name"`
			} `json:"customer"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(find("owner=me")), &page); err != nil || len(page.Items) != 1 || page.Items[0].Customer.Name != "Ana Díaz" {
		t.Errorf("owner=me as tokens.user: %+v (%v), want Ana Díaz's conversation", page.Items, err)
	}
	var preview struct {
		Text    string   `json:"text"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal([]byte(find("/preview")), &preview); err != nil || preview.Text != "Hi Ana, thanks for writing!" || len(preview.Missing) != 0 {
		t.Errorf("preview: %+v (%v)", preview, err)
	}
	if out := find("simulator outbox"); !strings.Contains(out, "Hi Ana, thanks for writing!") {
		t.Errorf("the customer's outbox does not show the reply:\n%s", out)
	}
	if out := find("'.items[] | {direction, text, status}'"); !strings.Contains(out, "Hi Ana, thanks for writing!") {
		t.Errorf("the Messages tab does not show the reply:\n%s", out)
	}
}

// waitIdle waits until the stack's queues hold nothing to do: what a
// person's pause between two commands gives the stack.
func waitIdle(t *testing.T, st *localstack.Stack) {
	t.Helper()
	st.Payments.Wait() // payment events on their way to the webhook
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(st.Info.SimulatorURL + "/debug/queues")
		if err != nil {
			t.Fatal(err)
		}
		var queues map[string]struct{ Visible, Delayed, InFlight int }
		err = json.NewDecoder(resp.Body).Decode(&queues)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		busy := 0
		for _, q := range queues {
			busy += q.Visible + q.Delayed + q.InFlight
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack is still busy after 20 s: %+v", queues)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadmeConnectAndUsers types the README's "Connect a number and add
// users" section: Embedded Signup, a number connected with the signup's
// token and one with a WABA token, one refused; a user added before their
// first sign-in who gets the new number's first customer by role.
func TestReadmeConnectAndUsers(t *testing.T) {
	find := typeSection(t, "## Connect a number and add users")
	if out := find("simulator numbers"); !strings.Contains(out, "200000000000002") || !strings.Contains(out, "NOT_VERIFIED") {
		t.Errorf("simulator numbers:\n%s", out)
	}
	if out := find("/integrations/connect"); !strings.Contains(out, `"phoneNumberId": "100000000000004"`) || !strings.Contains(out, `"usable": true`) {
		t.Errorf("connect:\n%s", out)
	}
	if out := find("/integrations/available"); !strings.Contains(out, "100000000000004") {
		t.Errorf("available:\n%s", out)
	}
	if out := find(`-d "$SUPPORT"`); !strings.Contains(out, `"displayPhone": "15550100004"`) {
		t.Errorf("create from the signup:\n%s", out)
	}
	if out := find(`-d "$SALES2"`); !strings.Contains(out, `"phoneNumberId": "100000000000002"`) {
		t.Errorf("create with a WABA token:\n%s", out)
	}
	if out := find("Not ours"); strings.TrimSpace(out) != `"whatsapp_access_denied"` {
		t.Errorf("a token that cannot read the number: %q", out)
	}
	if out := find("owner=u-nia"); !strings.Contains(out, `"customer": "Bo"`) {
		t.Errorf("the added user's conversations:\n%s", out)
	}
	if out := find(`{"disabled":true}`); !strings.Contains(out, `"disabled": true`) {
		t.Errorf("disable:\n%s", out)
	}
}
