// Command billingaudit reconciles one org's billing: the ledger's sum
// against the balance (and the chain of balances, the sequence, money given
// twice), charges whose message is not stored, replies stored without a
// charge, and failed replies not refunded yet. It reads the local stack's
// bolt file (stop make run first: the file is locked while it runs) or a
// deployed DynamoDB table with the credentials of your shell.
//
//	go run ./scripts/billingaudit -org acme                       # .wacrm/wacrm.db
//	go run ./scripts/billingaudit -org acme -table Wacrm-Table... # DynamoDB
//
// It exits 1 when it finds a problem with the money.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/table"
)

func main() {
	org := flag.String("org", "", "the org to audit (required)")
	bolt := flag.String("bolt", ".wacrm/wacrm.db", "the local stack's table file")
	tableName := flag.String("table", "", "a DynamoDB table name (instead of -bolt)")
	endpoint := flag.String("endpoint", "", "DynamoDB endpoint (DynamoDB Local), with -table")
	asJSON := flag.Bool("json", false, "print the whole reconciliation as JSON")
	flag.Parse()
	clean, err := run(os.Stdout, *org, *bolt, *tableName, *endpoint, *asJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "billingaudit:", err)
		os.Exit(2)
	}
	if !clean {
		os.Exit(1)
	}
}

// run prints the reconciliation to w; clean is false when the money is
// wrong somewhere.
func run(w io.Writer, org, boltPath, tableName, endpoint string, asJSON bool) (clean bool, err error) {
	if org == "" {
		return false, fmt.Errorf("-org is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var tbl table.Table
	if tableName != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return false, fmt.Errorf("AWS configuration: %w", err)
		}
		client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})
		tbl = dynamo.New(client, tableName)
	} else {
		b, err := boltstore.Open(boltPath)
		if err != nil {
			return false, fmt.Errorf("%w (is make run still running? it holds the file)", err)
		}
		defer b.Close()
		tbl = b
	}
	r, err := storage.New(tbl).Reconcile(ctx, org)
	if err != nil {
		return false, err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		fmt.Fprintf(w, "org %s: balance %d credits, %d ledger entries, %d replies\n", org, r.Balance, r.Entries, r.Replies)
		section := func(title string, items []string) {
			if len(items) > 0 {
				fmt.Fprintf(w, "%s (%d):\n  %s\n", title, len(items), strings.Join(items, "\n  "))
			}
		}
		section("PROBLEMS", r.Problems)
		var seqs []string
		for _, s := range r.ChargesWithoutMessages {
			seqs = append(seqs, fmt.Sprintf("ledger entry %d", s))
		}
		section("charges without messages", seqs)
		section("replies without charges", r.MessagesWithoutCharges)
		section("failed replies not refunded yet", r.RefundsDue)
		if len(r.Problems) == 0 && len(seqs) == 0 {
			fmt.Fprintln(w, "the ledger sums to the balance; every charge has its message")
		}
	}
	return len(r.Problems) == 0 && len(r.ChargesWithoutMessages) == 0, nil
}
