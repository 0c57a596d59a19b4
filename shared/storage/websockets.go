package storage

import (
	"context"
	"fmt"

	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/table"
)

// WebSocket connections (API Gateway's), one item each, expiring with
// API Gateway's longest connection in case a $disconnect never came.
//
//	websocket      PK WSCONN#<connectionId>   SK WSCONN
//	  by org       GSI1 ORG#<org>#WSCONNS           <user>#<connectionId>
type webSocketItem struct {
	table.Keys
	notify.Connection
}

func webSocketKey(id string) table.Key { return table.Key{PK: "WSCONN#" + id, SK: "WSCONN"} }

func webSocketsPK(org string) string { return orgKey(org) + "#WSCONNS" }

// SaveWebSocket records an open socket.
func (s *Store) SaveWebSocket(ctx context.Context, c notify.Connection) error {
	it := &webSocketItem{Connection: c}
	k := webSocketKey(c.ID)
	it.PK, it.SK = k.PK, k.SK
	it.GSI1PK, it.GSI1SK = webSocketsPK(c.Org), c.UserID+"#"+c.ID
	it.TTL = expiresIn(notify.ConnectionTTL)
	if err := s.t.Write(ctx, table.Op{Put: it}); err != nil {
		return fmt.Errorf("save connection %s: %w", c.ID, err)
	}
	return nil
}

// DeleteWebSocket forgets a socket; forgetting one that is gone is fine.
func (s *Store) DeleteWebSocket(ctx context.Context, id string) error {
	k := webSocketKey(id)
	if err := s.t.Write(ctx, table.Op{Delete: &k}); err != nil {
		return fmt.Errorf("delete connection %s: %w", id, err)
	}
	return nil
}

// WebSockets lists an org's open sockets, of one user when user is set.
func (s *Store) WebSockets(ctx context.Context, org, user string) ([]notify.Connection, error) {
	q := table.Query{Index: table.GSI1, PK: webSocketsPK(org), Limit: 100}
	if user != "" {
		q.SKPrefix = user + "#"
	}
	var out []notify.Connection
	for {
		var page []webSocketItem
		next, err := s.t.Query(ctx, q, &page)
		if err != nil {
			return nil, fmt.Errorf("query connections of %s: %w", org, err)
		}
		for _, it := range page {
			out = append(out, it.Connection)
		}
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}
