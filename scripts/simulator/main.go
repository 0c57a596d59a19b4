// Command simulator plays WhatsApp's side of the conversation against the
// local stack (or any webhook): it sends customer messages as signed Meta
// webhooks, posts statuses, does the verification handshake, shows what the
// business sent, and can serve a standalone Graph API stand-in.
//
//	go run ./scripts/simulator send --from 15551234567 --name "Ana" --text "hola 👋"
//	go run ./scripts/simulator send --from 15551234567 --type image --file photo.jpg --caption "receipt"
//	go run ./scripts/simulator status --id wamid.HBg... --status read
//	go run ./scripts/simulator handshake
//	go run ./scripts/simulator outbox --to 15551234567
//	go run ./scripts/simulator script demo.json
//	go run ./scripts/simulator serve --addr 127.0.0.1:8089 --webhook http://127.0.0.1:8080/webhook --app-secret S
//
// Settings come from .wacrm/stack.json (written by the local stack; looked
// up from the current directory upwards) unless flags override them:
//
//	{"webhookURL": "...", "apiURL": "...", "verifyToken": "...", "appSecret": "...",
//	 "phoneNumberId": "...", "simulatorURL": "..."}
//
// With a simulatorURL, messages go through the stack's embedded simulator,
// so it knows the customer wrote (the 24 h window) and what to answer;
// without one they are signed and posted straight to the webhook.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}
