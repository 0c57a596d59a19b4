package dynamo_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/table/tabletest"
)

func TestContract(t *testing.T) {
	client := dynamotest.Client(t)
	tabletest.Run(t, func(t *testing.T) table.Table {
		return dynamo.New(client, dynamotest.CreateTable(t, client))
	})
}

func TestCreateTable(t *testing.T) {
	client := dynamotest.Client(t)
	name := dynamotest.CreateTable(t, client)
	// A second call keeps the table and finds TTL enabled.
	if err := dynamo.CreateTable(t.Context(), client, name); err != nil {
		t.Fatalf("create existing table: %v", err)
	}
	desc, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var got []string
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		got = append(got, fmt.Sprintf("%s:%s/%s:%s", *g.IndexName, *g.KeySchema[0].AttributeName, *g.KeySchema[1].AttributeName, g.Projection.ProjectionType))
	}
	want := map[string]bool{
		"GSI1:GSI1PK/GSI1SK:ALL": true, "GSI2:GSI2PK/GSI2SK:ALL": true,
		"GSI3:GSI3PK/GSI3SK:ALL": true, "GSI4:GSI4PK/GSI4SK:ALL": true,
	}
	if len(got) != len(want) {
		t.Errorf("indexes: got %v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected index %s", g)
		}
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		t.Fatalf("describe ttl: %v", err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ttl" {
		t.Errorf("ttl: got %s on %q, want ENABLED on ttl", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
	}
}

type filler struct {
	table.Keys
	Body string `json:"body"`
}

// capacityMeter sums the capacity units of the requests made through it.
type capacityMeter struct {
	mu    sync.Mutex
	units float64
}

func (m *capacityMeter) add(u float64) { m.mu.Lock(); m.units += u; m.mu.Unlock() }

func (m *capacityMeter) take() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.units
	m.units = 0
	return u
}

// TestQueryCostFollowsPage: reading a page costs the same from a partition
// of 1,000 items as from one of 50, and far less than reading all 1,000.
func TestQueryCostFollowsPage(t *testing.T) {
	client := dynamotest.Client(t)
	var meter capacityMeter
	tb := dynamo.New(client, dynamotest.CreateTable(t, client), dynamo.WithCapacity(meter.add))
	body := string(make([]byte, 200)) // ~250-byte items
	fill := func(pk string, n int) {
		for start := 0; start < n; start += table.MaxWriteOps {
			var ops []table.Op
			for i := start; i < min(n, start+table.MaxWriteOps); i++ {
				ops = append(ops, table.Op{Put: &filler{Keys: table.Keys{PK: pk, SK: fmt.Sprintf("%06d", i), GSI1PK: pk + "-g", GSI1SK: fmt.Sprintf("%06d", i)}, Body: body}})
			}
			if err := tb.Write(t.Context(), ops...); err != nil {
				t.Fatalf("fill %s: %v", pk, err)
			}
		}
	}
	fill("big", 1000)
	fill("small", 50)
	meter.take()

	cost := func(q table.Query) (float64, int) {
		var page []filler
		if _, err := tb.Query(t.Context(), q, &page); err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		return meter.take(), len(page)
	}
	for _, ix := range []table.Index{table.Primary, table.GSI1} {
		suffix := ""
		if ix == table.GSI1 {
			suffix = "-g"
		}
		big, n1 := cost(table.Query{Index: ix, PK: "big" + suffix, Limit: 20})
		small, n2 := cost(table.Query{Index: ix, PK: "small" + suffix, Limit: 20})
		all, n3 := cost(table.Query{Index: ix, PK: "big" + suffix, Limit: 1000})
		t.Logf("%q: page of 20 from 1,000: %.1f RCU; page of 20 from 50: %.1f RCU; all 1,000: %.1f RCU", ix, big, small, all)
		if n1 != 20 || n2 != 20 || n3 != 1000 {
			t.Fatalf("%s: pages of %d, %d, %d items", ix, n1, n2, n3)
		}
		if big <= 0 || small <= 0 {
			t.Fatalf("%s: no consumed capacity reported (%v, %v)", ix, big, small)
		}
		if big > 2*small {
			t.Errorf("%s: page from the big partition costs %.1f, more than twice the small one's %.1f", ix, big, small)
		}
		if big*10 > all {
			t.Errorf("%s: page of 20 costs %.1f, not far below reading all 1,000 (%.1f)", ix, big, all)
		}
	}
}

func BenchmarkDynamoLocalWrite(b *testing.B) {
	client := dynamotest.Client(b)
	tb := dynamo.New(client, dynamotest.CreateTable(b, client))
	i := 0
	for b.Loop() {
		i++
		err := tb.Write(b.Context(), table.Op{
			Put:  &filler{Keys: table.Keys{PK: fmt.Sprintf("bench#%d", i%100), SK: fmt.Sprintf("%08d", i), GSI1PK: "g", GSI1SK: fmt.Sprintf("%08d", i)}, Body: "hello"},
			Cond: table.NotExists(),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDynamoLocalQuery(b *testing.B) {
	client := dynamotest.Client(b)
	tb := dynamo.New(client, dynamotest.CreateTable(b, client))
	ops := make([]table.Op, 0, 100)
	for i := range 1000 {
		ops = append(ops, table.Op{Put: &filler{Keys: table.Keys{PK: "p", SK: fmt.Sprintf("%06d", i)}, Body: "hello world"}})
		if len(ops) == 100 {
			if err := tb.Write(b.Context(), ops...); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	i := 0
	for b.Loop() {
		i++
		var page []filler
		if _, err := tb.Query(b.Context(), table.Query{PK: "p", SKFrom: fmt.Sprintf("%06d", i%900), Limit: 20}, &page); err != nil || len(page) != 20 {
			b.Fatalf("query: %d items, %v", len(page), err)
		}
	}
}
