package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/coder/websocket"

	"github.com/wacrm/wacrm/shared/auth"
)

// cmdWatch opens the WebSocket as a CRM user, the way the frontend does
// (the token as a subprotocol), and prints each event pushed to them, one
// JSON object per line, until interrupted (or --count events).
func cmdWatch(ctx context.Context, e *env, args []string, stderr io.Writer) error {
	fs, cf := newFlags("watch", stderr)
	as := fs.String("as", "user", "whose events: a role in stack.json's tokens (user, admin)")
	token := fs.String("token", "", "a JWT to watch with (overrides --as)")
	wsURL := fs.String("url", "", "WebSocket URL (overrides webSocketURL)")
	count := fs.Int("count", 0, "stop after this many events (0: until interrupted)")
	if err := cf.parse(fs, args, e); err != nil {
		return err
	}
	if *wsURL == "" {
		*wsURL = e.stack.WebSocketURL
	}
	if *token == "" {
		*token = e.stack.Tokens[*as]
	}
	if *wsURL == "" || *token == "" {
		return fmt.Errorf("watch: need webSocketURL and a token for %q (from stack.json, or --url and --token)", *as)
	}
	if _, err := url.Parse(*wsURL); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	c, _, err := websocket.Dial(ctx, *wsURL, &websocket.DialOptions{Subprotocols: []string{auth.WebSocketProtocol, *token}})
	if err != nil {
		return fmt.Errorf("watch: open %s: %w", *wsURL, err)
	}
	defer c.CloseNow()
	fmt.Fprintf(stderr, "watching %s as %s\n", *wsURL, *as)
	for n := 0; *count == 0 || n < *count; n++ {
		_, msg, err := c.Read(ctx)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		fmt.Fprintf(e.out, "%s\n", msg)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}
