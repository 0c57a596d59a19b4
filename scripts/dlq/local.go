package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/localstack"
)

// localDLQ is the dead-letter queue of one of the local stack's queues,
// reached through its admin-only /debug/queues endpoints.
type localDLQ struct {
	base  string // the stack's base URL
	queue string
	token string
	http  *http.Client
}

func openLocal(stackPath, queue string) (*localDLQ, error) {
	info, err := localstack.ReadInfo(stackPath)
	if err != nil {
		return nil, err
	}
	if info.Tokens["admin"] == "" {
		return nil, fmt.Errorf("%s has no admin token", stackPath)
	}
	return &localDLQ{base: strings.TrimSuffix(info.SimulatorURL, "/"), queue: queue, token: info.Tokens["admin"],
		http: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (q *localDLQ) String() string {
	return fmt.Sprintf("the local stack's %s dead-letter queue -> %s (%s)", q.queue, q.queue, q.base)
}

func (q *localDLQ) call(ctx context.Context, method, path string, out any) error {
	u := q.base + "/debug/queues/" + url.PathEscape(q.queue) + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+q.token)
	resp, err := q.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s (is make run going?): %w", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	return nil
}

func (q *localDLQ) List(ctx context.Context) ([]deadLetter, error) {
	var letters []deadLetter
	err := q.call(ctx, http.MethodGet, "/dead-letters", &letters)
	return letters, err
}

func (q *localDLQ) Redrive(ctx context.Context) (int, error) {
	var out struct {
		Moved int `json:"moved"`
	}
	err := q.call(ctx, http.MethodPost, "/redrive", &out)
	return out.Moved, err
}
