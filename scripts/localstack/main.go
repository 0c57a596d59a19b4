// Command localstack runs wacrm locally on the embedded adapters (`make run`).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wacrm/wacrm/shared/localstack"
)

func main() {
	config := flag.String("config", "scripts/localstack/demo.json", "config file: demo org, users, integration")
	addr := flag.String("addr", os.Getenv("WACRM_ADDR"), "listen address, e.g. :9090 (loopback) or 0.0.0.0:9090; overrides the config (env WACRM_ADDR, make run ADDR=)")
	cors := flag.String("cors-origins", os.Getenv("WACRM_CORS_ORIGINS"), "comma-separated origins a browser frontend may call the API from, or *; overrides the config (env WACRM_CORS_ORIGINS, make run CORS_ORIGINS=)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := localstack.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if *cors != "" {
		cfg.CORSOrigins = strings.Split(*cors, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := localstack.Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
	info, _ := json.MarshalIndent(st.Info, "", "  ")
	fmt.Printf(`wacrm is running on the embedded adapters (state in %s).

%s

Play the customer (signs and posts webhooks as Meta does):
  go run ./scripts/simulator send --from 15551234567 --name "Ana Díaz" --text "Hola 👋"
Then, as the CRM user:
  curl -s -H "Authorization: Bearer $(jq -r .tokens.user %s/stack.json)" %s/conversations | jq
Watch the user's live events (the WebSocket at %s):
  go run ./scripts/simulator watch --as user
Stop with Ctrl-C; state survives a restart.
`, cfg.DataDir, info, cfg.DataDir, st.Info.APIURL, st.Info.WebSocketURL)
	<-ctx.Done()
	log.Info("stopping")
	if err := st.Close(); err != nil {
		log.Error("stop", "err", err)
	}
}
