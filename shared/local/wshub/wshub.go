// Package wshub is the embedded twin of the API Gateway WebSocket API: an
// in-process hub that holds the browsers' WebSockets and pushes each event
// to the connections of the users it concerns. The socket is opened with
// the user's JWT, checked by the same Authenticator as the HTTP API.
package wshub

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/notify"
)

// Verifier checks the token a socket is opened with, by the rules of the
// HTTP API's tokens (auth.HMACIssuer locally).
type Verifier interface {
	Verify(raw string) (auth.Principal, error)
}

// Timeouts of a connection. A browser that stops answering pings, or reads
// too slowly to keep up with its events, is disconnected.
const (
	pingInterval = 30 * time.Second
	writeTimeout = 10 * time.Second
	sendBuffer   = 64
)

// Hub holds the open sockets.
type Hub struct {
	Auth Verifier
	Log  *slog.Logger
	// OriginPatterns are the browser origins allowed to open a socket
	// besides the hub's own host (websocket.AcceptOptions); "*" allows any.
	OriginPatterns []string

	mu    sync.Mutex
	conns map[string]map[*conn]struct{} // by org
}

type conn struct {
	user string
	send chan []byte
	ws   *websocket.Conn
}

var _ notify.Pusher = (*Hub)(nil)

// ServeHTTP opens a socket for the user whose token the request carries
// (?token= or Sec-WebSocket-Protocol: wacrm, <token>) and keeps it until
// the browser leaves or stops answering.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := auth.WebSocketToken(r.URL.Query().Get("token"), r.Header.Values("Sec-WebSocket-Protocol"))
	if tok == "" {
		http.Error(w, `{"error":{"code":"unauthenticated","message":"A valid token is required."}}`, http.StatusUnauthorized)
		return
	}
	p, err := h.Auth.Verify(tok)
	if err != nil {
		h.log().InfoContext(r.Context(), "websocket refused", "err", err)
		http.Error(w, `{"error":{"code":"unauthenticated","message":"A valid token is required."}}`, http.StatusUnauthorized)
		return
	}
	opts := &websocket.AcceptOptions{OriginPatterns: h.OriginPatterns}
	if auth.TokenInProtocol(r) {
		opts.Subprotocols = []string{auth.WebSocketProtocol}
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		h.log().InfoContext(r.Context(), "websocket upgrade failed", "err", err)
		return
	}
	c := &conn{user: p.UserID, send: make(chan []byte, sendBuffer), ws: ws}
	h.add(p.Org, c)
	defer h.remove(p.Org, c)
	h.log().InfoContext(r.Context(), "websocket connected", "org", p.Org, "user", p.UserID)

	// The browser sends nothing we need; reading handles pings and close.
	ctx := ws.CloseRead(context.Background())
	ticker := time.NewTicker(pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-c.send:
			if !ok {
				ws.Close(websocket.StatusPolicyViolation, "too slow")
				return
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := ws.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return
			}
		case <-ticker.C:
			pctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := ws.Ping(pctx)
			cancel()
			if err != nil {
				ws.Close(websocket.StatusGoingAway, "no pong")
				return
			}
		}
	}
}

func (h *Hub) add(org string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns == nil {
		h.conns = map[string]map[*conn]struct{}{}
	}
	if h.conns[org] == nil {
		h.conns[org] = map[*conn]struct{}{}
	}
	h.conns[org][c] = struct{}{}
}

func (h *Hub) remove(org string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[org][c]; !ok {
		return
	}
	delete(h.conns[org], c)
	if len(h.conns[org]) == 0 {
		delete(h.conns, org)
	}
}

// Connections counts the open sockets (for /debug and tests).
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, cs := range h.conns {
		n += len(cs)
	}
	return n
}

// Push implements notify.Pusher: each event goes to the org's sockets of
// the user it concerns (all of the org's when it names no user). A socket
// whose buffer is full is dropped rather than holding up the others.
func (h *Hub) Push(ctx context.Context, events []notify.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return errors.Join(errors.New("encode event"), err)
		}
		for c := range h.conns[ev.Org] {
			if ev.UserID != "" && ev.UserID != c.user {
				continue
			}
			select {
			case c.send <- b:
			default:
				close(c.send)
				delete(h.conns[ev.Org], c)
				h.log().WarnContext(ctx, "websocket dropped: too slow", "org", ev.Org, "user", c.user)
			}
		}
	}
	return nil
}

func (h *Hub) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
