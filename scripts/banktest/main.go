// Command banktest is the bank test at full size: 50 workers charge
// replies, refund failed ones and apply payment events on one org's balance
// (shared/billing/banktest), with duplicated deliveries and crashes
// injected, on the bolt file or on DynamoDB (Local), then audits the
// ledger against the balance and the stored replies and prints the
// throughput. make test runs the same code small.
//
//	go run ./scripts/banktest -ops 100000                                    # bolt, in a temp dir
//	scripts/testenv/run.sh go run ./scripts/banktest -ops 20000 -dynamo      # DynamoDB Local
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/billing/banktest"
	"github.com/wacrm/wacrm/shared/local/boltstore"
	"github.com/wacrm/wacrm/shared/table"
)

func main() {
	cfg := banktest.Config{Org: "bank"}
	flag.IntVar(&cfg.Ops, "ops", 100_000, "operations in all (charges 70%, refunds 15%, purchases 15%)")
	flag.IntVar(&cfg.Workers, "workers", 50, "concurrent workers")
	flag.IntVar(&cfg.Instances, "instances", 4, "store instances the workers share, as Lambda instances would")
	flag.IntVar(&cfg.Conversations, "conversations", 200, "conversations the charges spread over")
	flag.Float64Var(&cfg.CrashRate, "crash", 0.05, "share of writes that crash (half before, half after they land)")
	flag.Float64Var(&cfg.DuplicateRate, "dup", 0.1, "share of operations delivered twice at once")
	onDynamo := flag.Bool("dynamo", false, "run on DynamoDB Local at $WACRM_TEST_DYNAMODB_ENDPOINT (scripts/testenv/run.sh starts it)")
	flag.Parse()
	if err := run(cfg, *onDynamo); err != nil {
		fmt.Fprintln(os.Stderr, "banktest:", err)
		os.Exit(1)
	}
}

func run(cfg banktest.Config, onDynamo bool) error {
	ctx := context.Background()
	var tbl table.Table
	backend := "bolt"
	if onDynamo {
		endpoint := os.Getenv("WACRM_TEST_DYNAMODB_ENDPOINT")
		if endpoint == "" {
			return fmt.Errorf("-dynamo needs WACRM_TEST_DYNAMODB_ENDPOINT (run through scripts/testenv/run.sh)")
		}
		client := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		name := fmt.Sprintf("wacrm-banktest-%d", time.Now().UnixNano())
		if err := dynamo.CreateTable(ctx, client, name); err != nil {
			return err
		}
		defer client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		tbl, backend = dynamo.New(client, name), "DynamoDB Local"
	} else {
		dir, err := os.MkdirTemp("", "banktest")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		b, err := boltstore.Open(filepath.Join(dir, "bank.db"))
		if err != nil {
			return err
		}
		defer b.Close()
		tbl = b
	}
	fmt.Printf("bank test on %s: %d operations, %d workers over %d instances, %.0f%% crashes, %.0f%% duplicates\n",
		backend, cfg.Ops, cfg.Workers, cfg.Instances, cfg.CrashRate*100, cfg.DuplicateRate*100)
	rep, err := banktest.Run(ctx, tbl, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("%d charges, %d refunds, %d purchases, %d refused for lack of credits, %d crashes injected, %d duplicated\n",
		rep.Charges, rep.Refunds, rep.Purchases, rep.Refused, rep.Crashes, rep.Duplicates)
	fmt.Printf("%d ledger entries in %v: %.0f entries/s on one org's balance; final balance %d credits\n",
		rep.Entries, rep.Elapsed.Round(time.Millisecond), rep.Throughput(), rep.Balance)
	if len(rep.Problems) > 0 {
		for _, p := range rep.Problems {
			fmt.Println("PROBLEM:", p)
		}
		return fmt.Errorf("%d problems", len(rep.Problems))
	}
	fmt.Println("audit: the balance equals the ledger's sum and what the stored replies and payments say; never negative; nothing charged or refunded twice")
	return nil
}
