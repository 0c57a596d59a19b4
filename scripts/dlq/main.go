// Command dlq shows what waits in a dead-letter queue and moves it back to
// its queue: on AWS (SQS) or on the local stack of `make run`. Moving is a
// dry run unless -apply is given.
//
//	go run ./scripts/dlq show inbound                  # the local stack's inbound DLQ
//	go run ./scripts/dlq redrive inbound               # dry run: what would move
//	go run ./scripts/dlq redrive -apply inbound        # move it back to the inbound queue
//	go run ./scripts/dlq show -dlq-url "$DLQ_URL"      # SQS, with your AWS credentials
//	go run ./scripts/dlq redrive -dlq-url "$DLQ_URL" -to "$QUEUE_URL" [-apply]
//
// The local stack is found through .wacrm/stack.json (-stack to give
// another); its queues are inbound, outbound and media. On SQS a message is
// sent to the queue before it is deleted from the DLQ: a failure in between
// leaves a copy in both (every consumer is idempotent), never in neither.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wacrm/wacrm/shared/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  dlq show    [-stack .wacrm/stack.json] <inbound|outbound|media>
  dlq redrive [-stack .wacrm/stack.json] [-apply] <inbound|outbound|media>
  dlq show    -dlq-url <url>
  dlq redrive -dlq-url <url> -to <queue url> [-apply]
redrive without -apply is a dry run: it lists what would move.`

// deadLetter is one message waiting in a dead-letter queue, as the local
// stack shows it.
type deadLetter = localstack.DeadLetter

// deadLetters is a dead-letter queue the command can read and empty back
// into its queue.
type deadLetters interface {
	// List returns every message, leaving each where it is.
	List(ctx context.Context) ([]deadLetter, error)
	// Redrive moves every message back to the queue it failed in.
	Redrive(ctx context.Context) (int, error)
	// String names the queue and where its messages go back to.
	String() string
}

// run is the command; sqsClient, if set, replaces the one built from the
// environment's AWS configuration (tests point it at a local server).
func run(ctx context.Context, args []string, out io.Writer, sqsClient *sqs.Client) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "redrive") {
		return errors.New(usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet("dlq "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stackPath := fs.String("stack", ".wacrm/stack.json", "the local stack's stack.json")
	dlqURL := fs.String("dlq-url", "", "an SQS dead-letter queue's URL (instead of the local stack)")
	toURL := fs.String("to", "", "the SQS queue to move the messages back to (redrive)")
	apply := fs.Bool("apply", false, "redrive: move the messages (without it, only list what would move)")
	full := fs.Bool("full", false, "print whole bodies (default: the first 300 bytes)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v\n%s", err, usage)
	}

	var q deadLetters
	switch {
	case *dlqURL != "":
		if fs.NArg() > 0 {
			return fmt.Errorf("give either -dlq-url or a local queue name, not both\n%s", usage)
		}
		if cmd == "redrive" && *toURL == "" {
			return fmt.Errorf("redrive -dlq-url needs -to, the queue the messages failed in\n%s", usage)
		}
		if sqsClient == nil {
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("load AWS config: %w", err)
			}
			sqsClient = sqs.NewFromConfig(cfg)
		}
		q = &sqsDLQ{client: sqsClient, url: *dlqURL, to: *toURL}
	case fs.NArg() == 1:
		lq, err := openLocal(*stackPath, fs.Arg(0))
		if err != nil {
			return err
		}
		q = lq
	default:
		return errors.New(usage)
	}

	if cmd == "redrive" && *apply {
		n, err := q.Redrive(ctx)
		fmt.Fprintf(out, "moved %d message(s): %s\n", n, q)
		return err
	}
	letters, err := q.List(ctx)
	if err != nil {
		return err
	}
	printLetters(out, letters, *full)
	if cmd == "redrive" {
		fmt.Fprintf(out, "dry run: would move %d message(s): %s\nrun again with -apply to move them\n", len(letters), q)
	} else {
		fmt.Fprintf(out, "%d message(s) in %s\n", len(letters), q)
	}
	return nil
}

func printLetters(out io.Writer, letters []deadLetter, full bool) {
	for _, l := range letters {
		body := l.Body
		if !full && len(body) > 300 {
			body = body[:300] + fmt.Sprintf("... (%d bytes; -full shows all)", len(l.Body))
		}
		fmt.Fprintf(out, "%s  received %d times", l.ID, l.ReceiveCount)
		keys := make([]string, 0, len(l.Attributes))
		for k := range l.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "  %s=%s", k, l.Attributes[k])
		}
		fmt.Fprintf(out, "\n  %s\n", strings.ReplaceAll(body, "\n", "\n  "))
	}
}
