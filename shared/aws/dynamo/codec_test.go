package dynamo

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wacrm/wacrm/shared/table"
)

type status int

func (s status) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("S%d", int(s))), nil }
func (s *status) UnmarshalText(b []byte) error {
	_, err := fmt.Sscanf(string(b), "S%d", (*int)(s))
	return err
}

type codecItem struct {
	table.Keys
	Name    string            `json:"name"`
	Count   int               `json:"count"`
	Flag    bool              `json:"flag"`
	At      time.Time         `json:"at"`
	Tags    []string          `json:"tags,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Later   time.Time         `json:"later,omitzero"`
	Status  status            `json:"status"`
	Counted int64             `json:"counted,string"`
	Data    []byte            `json:"data"`
	Nothing *string           `json:"nothing"`
}

// TestCodecFollowsEncodingJSON: attributes are exactly encoding/json's
// top-level keys, with native DynamoDB types, and decode back unchanged.
func TestCodecFollowsEncodingJSON(t *testing.T) {
	in := &codecItem{
		Keys:    table.Keys{PK: "p", SK: "s", TTL: 1700000000},
		Name:    "n",
		Count:   3,
		Flag:    true,
		At:      time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		Tags:    []string{}, // empty, not nil: omitempty drops it as encoding/json does
		Labels:  map[string]string{},
		Status:  7,
		Counted: 42,
		Data:    []byte("hi"),
	}
	av, err := marshalItem(in)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	got := map[string]string{}
	for name, v := range av {
		got[name] = fmt.Sprintf("%T", v)
	}
	want := map[string]string{
		"PK": "*types.AttributeValueMemberS", "SK": "*types.AttributeValueMemberS",
		"ttl": "*types.AttributeValueMemberN", "name": "*types.AttributeValueMemberS",
		"count": "*types.AttributeValueMemberN", "flag": "*types.AttributeValueMemberBOOL",
		"at": "*types.AttributeValueMemberS", "status": "*types.AttributeValueMemberS",
		"counted": "*types.AttributeValueMemberS", "data": "*types.AttributeValueMemberS",
		"nothing": "*types.AttributeValueMemberNULL",
	}
	if !reflect.DeepEqual(got, want) {
		keys := func(m map[string]string) []string {
			var out []string
			for k, v := range m {
				out = append(out, k+"="+v)
			}
			sort.Strings(out)
			return out
		}
		t.Errorf("attributes:\n got %v\nwant %v", keys(got), keys(want))
	}
	if s := av["status"].(*types.AttributeValueMemberS).Value; s != "S7" {
		t.Errorf("status via MarshalText: got %q", s)
	}

	var back codecItem
	if err := unmarshalItem(av, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	var viaJSON codecItem
	doc, _ := json.Marshal(in)
	if err := json.Unmarshal(doc, &viaJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, viaJSON) {
		t.Errorf("decode:\n got %+v\nwant %+v", back, viaJSON)
	}
}

func TestCodecReadsForeignTypes(t *testing.T) {
	// Sets and binaries are never written by this adapter, but an item
	// edited elsewhere may hold them.
	item := map[string]types.AttributeValue{
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"b":  &types.AttributeValueMemberB{Value: []byte{1, 2}},
	}
	var got struct {
		SS []string  `json:"ss"`
		NS []float64 `json:"ns"`
		B  []byte    `json:"b"`
	}
	if err := unmarshalItem(item, &got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if fmt.Sprint(got.SS, got.NS, got.B) != "[a b] [1 2.5] [1 2]" {
		t.Errorf("got %+v", got)
	}
}
