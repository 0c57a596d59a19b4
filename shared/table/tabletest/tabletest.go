// Package tabletest is the contract suite of table.Table: every
// implementation runs it (aws/dynamo against DynamoDB Local,
// local/boltstore against a temporary file) and must pass it unchanged.
package tabletest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/table"
)

// Run runs the suite. newTable returns an empty table for one test; it
// registers its own cleanup with t.Cleanup.
func Run(t *testing.T, newTable func(t *testing.T) table.Table) {
	tests := []struct {
		name string
		fn   func(t *testing.T, tb table.Table)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Conditions", testConditions},
		{"Atomicity", testAtomicity},
		{"MultiOpWrite", testMultiOpWrite},
		{"InvalidWrites", testInvalidWrites},
		{"SparseIndexes", testSparseIndexes},
		{"QueryRanges", testQueryRanges},
		{"QueryPartitions", testQueryPartitions},
		{"QueryOut", testQueryOut},
		{"Paging", testPaging},
		{"BadCursor", testBadCursor},
		{"CursorOutsideRange", testCursorOutsideRange},
		{"InvalidQueries", testInvalidQueries},
		{"ConcurrentCounter", func(t *testing.T, tb table.Table) { testCounter(t, tb, 8, 25, false) }},
		{"ConcurrentTransactions", func(t *testing.T, tb table.Table) { testCounter(t, tb, 4, 10, true) }},
		{"TTL", testTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newTable(t)) })
	}
}

// rec is the small item most tests store.
type rec struct {
	table.Keys
	Label string `json:"label"`
	N     int64  `json:"n,omitempty"`
}

func key(pk, sk string) table.Key { return table.Key{PK: pk, SK: sk} }

func newRec(pk, sk, label string) *rec {
	return &rec{Keys: table.Keys{PK: pk, SK: sk}, Label: label}
}

func write(t *testing.T, tb table.Table, ops ...table.Op) {
	t.Helper()
	if err := tb.Write(t.Context(), ops...); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func putAll(t *testing.T, tb table.Table, items ...table.Item) {
	t.Helper()
	for batch := range slices.Chunk(items, table.MaxWriteOps) {
		ops := make([]table.Op, len(batch))
		for i, it := range batch {
			ops[i] = table.Op{Put: it}
		}
		write(t, tb, ops...)
	}
}

// getLabel returns the label at k, or "" with ErrNotFound.
func getLabel(t *testing.T, tb table.Table, k table.Key) (string, error) {
	t.Helper()
	var got rec
	err := tb.Get(t.Context(), k, &got)
	if err != nil && !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("get %s: %v", k, err)
	}
	return got.Label, err
}

// sks runs q to its end and returns the sort keys of every page, one
// slice per page.
func pages(t *testing.T, tb table.Table, q table.Query) [][]*rec {
	t.Helper()
	var all [][]*rec
	for {
		var page []*rec
		next, err := tb.Query(t.Context(), q, &page)
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		all = append(all, page)
		if next == "" {
			return all
		}
		if len(all) > 1000 {
			t.Fatalf("query %+v: no end after 1000 pages", q)
		}
		q.Cursor = next
	}
}

func sortKeys(recs []*rec) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.SK)
	}
	return out
}

type audit struct {
	CreatedBy string `json:"createdBy"`
}

type inner struct {
	Label string              `json:"label"`
	N     int                 `json:"n"`
	When  time.Time           `json:"when"`
	Deep  map[string][]string `json:"deep,omitempty"`
}

type rich struct {
	table.Keys
	audit
	Name     string            `json:"name"`
	Count    int               `json:"count"`
	Big      int64             `json:"big"`
	Neg      int32             `json:"neg"`
	Unsigned uint64            `json:"unsigned"`
	Ratio    float64           `json:"ratio"`
	Tiny     float64           `json:"tiny"`
	Huge     float64           `json:"huge"`
	Active   bool              `json:"active"`
	Off      bool              `json:"off"`
	At       time.Time         `json:"at"`
	Nested   inner             `json:"nested"`
	Ptr      *inner            `json:"ptr"`
	NilPtr   *inner            `json:"nilPtr,omitempty"`
	Note     *string           `json:"note"`
	Tags     []string          `json:"tags"`
	Nums     []int             `json:"nums"`
	Inners   []inner           `json:"inners"`
	Labels   map[string]string `json:"labels"`
	Counts   map[string]int    `json:"counts"`
	Data     []byte            `json:"data"`
	Raw      json.RawMessage   `json:"raw"`
	Emoji    string            `json:"emoji"`
	Blank    string            `json:"blank"`
	Omitted  string            `json:"omitted,omitempty"`
	Zero     int               `json:"zero,omitempty"`
	Hidden   string            `json:"-"`
}

func testRoundTrip(t *testing.T, tb table.Table) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	note := "a note"
	in := &rich{
		Keys:     table.Keys{PK: "rt#1", SK: "item#é👋", GSI1PK: "rtg", GSI1SK: "1"},
		audit:    audit{CreatedBy: "user-7"},
		Name:     "Zoë \"quoted\" <b>&amp;</b>",
		Count:    -42,
		Big:      math.MaxInt64,
		Neg:      math.MinInt32,
		Unsigned: math.MaxUint64,
		Ratio:    0.1,
		Tiny:     -1.5e-7,
		Huge:     6.02214076e23,
		Active:   true,
		At:       at,
		Nested:   inner{Label: "in", N: 3, When: at.Add(time.Hour), Deep: map[string][]string{"k": {"v1", "v2"}}},
		Ptr:      &inner{Label: "ptr"},
		Note:     &note,
		Tags:     []string{"b", "a", "b"},
		Nums:     []int{3, 1, 2},
		Inners:   []inner{{Label: "x"}, {Label: "y", N: 1}},
		Labels:   map[string]string{"tier": "gold", "empty": ""},
		Counts:   map[string]int{"a": 1, "b": 0},
		Data:     []byte{0, 1, 2, 0xff},
		Raw:      json.RawMessage(`{"a":[1,"x",null]}`),
		Emoji:    "héllo 👋🏽 世界 🇧🇷",
		Hidden:   "not stored",
	}
	write(t, tb, table.Op{Put: in})

	var got rich
	if err := tb.Get(t.Context(), in.Key(), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	want := *in
	want.Hidden = ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// Attributes are named by the json tags, at the top level (embedded
	// structs flattened); omitempty leaves the attribute out.
	var view struct {
		table.Keys
		CreatedBy *string         `json:"createdBy"`
		Name      *string         `json:"name"`
		Nested    map[string]any  `json:"nested"`
		Blank     *string         `json:"blank"`
		Omitted   *string         `json:"omitted"`
		Zero      *int            `json:"zero"`
		NilPtr    *map[string]any `json:"nilPtr"`
		Hidden    *string         `json:"Hidden"`
	}
	if err := tb.Get(t.Context(), in.Key(), &view); err != nil {
		t.Fatalf("get view: %v", err)
	}
	if view.CreatedBy == nil || *view.CreatedBy != "user-7" {
		t.Errorf("embedded field createdBy: got %v, want top-level user-7", view.CreatedBy)
	}
	if view.Name == nil || *view.Name != in.Name {
		t.Errorf("name: got %v, want %q", view.Name, in.Name)
	}
	if view.Nested["label"] != "in" {
		t.Errorf("nested.label: got %v, want in", view.Nested["label"])
	}
	if view.Blank == nil || *view.Blank != "" {
		t.Errorf("blank: got %v, want stored empty string", view.Blank)
	}
	if view.Omitted != nil || view.Zero != nil || view.NilPtr != nil {
		t.Errorf("omitempty fields stored: omitted=%v zero=%v nilPtr=%v", view.Omitted, view.Zero, view.NilPtr)
	}
	if view.Hidden != nil {
		t.Errorf(`json:"-" field stored: %q`, *view.Hidden)
	}
	if view.GSI1PK != "rtg" || view.GSI2PK != "" || view.TTL != 0 {
		t.Errorf("keys: got %+v", view.Keys)
	}

	// Get starts from a zero value: fields absent from the item are cleared.
	stale := rich{Omitted: "stale", Hidden: "stale", Zero: 9}
	if err := tb.Get(t.Context(), in.Key(), &stale); err != nil {
		t.Fatalf("get into used struct: %v", err)
	}
	if stale.Omitted != "" || stale.Hidden != "" || stale.Zero != 0 {
		t.Errorf("get kept stale fields: %+v", stale)
	}

	// Replacing an item replaces it whole.
	write(t, tb, table.Op{Put: &rich{Keys: table.Keys{PK: "rt#1", SK: "item#é👋"}, Name: "second"}})
	var again rich
	if err := tb.Get(t.Context(), in.Key(), &again); err != nil {
		t.Fatalf("get after replace: %v", err)
	}
	if again.Name != "second" || again.Count != 0 || again.Tags != nil || again.Ptr != nil {
		t.Errorf("replace kept old attributes: %+v", again)
	}

	// Queries decode the same way.
	var list []rich
	if _, err := tb.Query(t.Context(), table.Query{PK: "rt#1"}, &list); err != nil {
		t.Fatalf("query: %v", err)
	}
	if len(list) != 1 || list[0].Name != "second" {
		t.Errorf("query: got %+v", list)
	}
}

func testNotFound(t *testing.T, tb table.Table) {
	var got rec
	err := tb.Get(t.Context(), key("nf", "missing"), &got)
	if !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	write(t, tb, table.Op{Put: newRec("nf", "x", "x")})
	if err := tb.Get(t.Context(), key("nf", "x"), &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	// Same PK, other SK; same SK, other PK.
	for _, k := range []table.Key{key("nf", "y"), key("nf2", "x"), key("n", "fx")} {
		if err := tb.Get(t.Context(), k, &got); !errors.Is(err, table.ErrNotFound) {
			t.Errorf("get %s: got %v, want ErrNotFound", k, err)
		}
	}
	write(t, tb, table.Op{Delete: &table.Key{PK: "nf", SK: "x"}})
	if err := tb.Get(t.Context(), key("nf", "x"), &got); !errors.Is(err, table.ErrNotFound) {
		t.Errorf("get after delete: got %v, want ErrNotFound", err)
	}
	// Deleting what is not there is not an error (DynamoDB's DeleteItem).
	write(t, tb, table.Op{Delete: &table.Key{PK: "nf", SK: "never"}})
}

func testConditions(t *testing.T, tb table.Table) {
	past := time.Now().Add(-time.Hour).Unix()
	states := map[string]*rec{
		"absent":  nil,
		"item":    {Keys: table.Keys{Ver: 3}, Label: "old", N: 5},
		"noattr":  {Label: "old"},
		"expired": {Keys: table.Keys{Ver: 3, TTL: past}, Label: "old", N: 1},
		"text":    {Label: "old"},
	}
	cases := []struct {
		state string
		cond  table.Cond
		holds bool
	}{
		{"absent", table.Cond{}, true},
		{"item", table.Cond{}, true},
		{"absent", table.NotExists(), true},
		{"item", table.NotExists(), false},
		{"expired", table.NotExists(), true},
		{"absent", table.Exists(), false},
		{"item", table.Exists(), true},
		{"expired", table.Exists(), false},
		{"absent", table.Version(0), true},
		{"item", table.Version(0), false},
		{"noattr", table.Version(0), false},
		{"expired", table.Version(0), true},
		{"item", table.Version(3), true},
		{"item", table.Version(2), false},
		{"item", table.Version(4), false},
		{"absent", table.Version(3), false},
		{"noattr", table.Version(3), false},
		{"expired", table.Version(3), false},
		{"item", table.Less("n", 6), true},
		{"item", table.Less("n", 5), false},
		{"item", table.Less("n", -1), false},
		{"noattr", table.Less("n", 0), true},
		{"absent", table.Less("n", 0), true},
		{"expired", table.Less("n", 0), true},
		{"text", table.Less("label", 100), false},
	}
	for i, c := range cases {
		for _, kind := range []string{"put", "delete", "check"} {
			name := fmt.Sprintf("%d/%s/%+v/%s", i, c.state, c.cond, kind)
			k := key("cond", fmt.Sprintf("%02d-%s", i, kind))
			before, hadBefore := "", false
			if s := states[c.state]; s != nil {
				item := *s
				item.PK, item.SK = k.PK, k.SK
				write(t, tb, table.Op{Put: &item})
				before, hadBefore = item.Label, c.state != "expired"
			}
			op := table.Op{Cond: c.cond}
			switch kind {
			case "put":
				op.Put = &rec{Keys: table.Keys{PK: k.PK, SK: k.SK, Ver: 9}, Label: "new"}
			case "delete":
				op.Delete = &k
			case "check":
				op.Check = &k
			}
			err := tb.Write(t.Context(), op)
			if c.holds && err != nil {
				t.Errorf("%s: got %v, want success", name, err)
			}
			if !c.holds {
				var ce *table.ConditionError
				if !errors.As(err, &ce) || !errors.Is(err, table.ErrConditionFailed) || ce.Op != 0 || ce.Key != k {
					t.Errorf("%s: got %v, want ConditionError on op 0 for %s", name, err, k)
				}
			}
			label, err := getLabel(t, tb, k)
			switch {
			case c.holds && kind == "put":
				if label != "new" {
					t.Errorf("%s: after put got %q (%v), want new", name, label, err)
				}
			case c.holds && kind == "delete":
				if err == nil {
					t.Errorf("%s: after delete the item is still there", name)
				}
			default: // failed, or a check: nothing changed
				if hadBefore && label != before || !hadBefore && err == nil {
					t.Errorf("%s: state changed: got %q (%v), want %q present=%v", name, label, err, before, hadBefore)
				}
			}
		}
	}
}

func testAtomicity(t *testing.T, tb table.Table) {
	a, b, c := newRec("atom", "a", "a0"), newRec("atom", "b", "b0"), newRec("atom", "c", "c0")
	b.Ver = 1
	putAll(t, tb, a, b, c)
	state := func() []string {
		var got []*rec
		if _, err := tb.Query(t.Context(), table.Query{PK: "atom"}, &got); err != nil {
			t.Fatalf("query: %v", err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.SK+"="+r.Label)
		}
		return out
	}
	want := []string{"a=a0", "b=b0", "c=c0"}
	ck := key("atom", "c")
	cases := []struct {
		name   string
		ops    []table.Op
		failed int
	}{
		{"second of four fails", []table.Op{
			{Put: newRec("atom", "a", "a1"), Cond: table.Exists()},
			{Put: &rec{Keys: table.Keys{PK: "atom", SK: "b", Ver: 3}, Label: "b1"}, Cond: table.Version(2)},
			{Delete: &ck},
			{Put: newRec("atom", "d", "d1"), Cond: table.NotExists()},
		}, 1},
		{"last check fails", []table.Op{
			{Put: newRec("atom", "a", "a1")},
			{Delete: &ck, Cond: table.Exists()},
			{Put: newRec("atom", "d", "d1")},
			{Check: &table.Key{PK: "atom", SK: "missing"}, Cond: table.Exists()},
		}, 3},
		{"first fails", []table.Op{
			{Put: newRec("atom", "a", "a1"), Cond: table.NotExists()},
			{Put: newRec("atom", "d", "d1")},
		}, 0},
	}
	for _, c := range cases {
		err := tb.Write(t.Context(), c.ops...)
		if got := table.FailedOp(err); got != c.failed || !errors.Is(err, table.ErrConditionFailed) {
			t.Errorf("%s: got failed op %d (%v), want %d", c.name, got, err, c.failed)
		}
		if got := state(); !slices.Equal(got, want) {
			t.Errorf("%s: state changed: got %v, want %v", c.name, got, want)
		}
	}
}

func testMultiOpWrite(t *testing.T, tb table.Table) {
	putAll(t, tb, newRec("multi", "a", "a0"), newRec("multi", "b", "b0"))
	bk := key("multi", "b")
	write(t, tb,
		table.Op{Put: newRec("multi", "a", "a1"), Cond: table.Exists()},
		table.Op{Delete: &bk, Cond: table.Exists()},
		table.Op{Put: newRec("multi", "c", "c1"), Cond: table.NotExists()},
		table.Op{Check: &table.Key{PK: "other", SK: "x"}, Cond: table.NotExists()},
	)
	var got []*rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "multi"}, &got); err != nil {
		t.Fatalf("query: %v", err)
	}
	var state []string
	for _, r := range got {
		state = append(state, r.SK+"="+r.Label)
	}
	if want := []string{"a=a1", "c=c1"}; !slices.Equal(state, want) {
		t.Errorf("after write: got %v, want %v", state, want)
	}
	// The maximum size of one Write.
	ops := make([]table.Op, table.MaxWriteOps)
	for i := range ops {
		ops[i] = table.Op{Put: newRec("max", fmt.Sprintf("%03d", i), "x"), Cond: table.NotExists()}
	}
	write(t, tb, ops...)
	if n := len(pages(t, tb, table.Query{PK: "max", Limit: 1000})[0]); n != table.MaxWriteOps {
		t.Errorf("after a write of %d puts: %d items", table.MaxWriteOps, n)
	}
	if err := tb.Write(t.Context()); err != nil {
		t.Errorf("empty write: %v", err)
	}
}

func testInvalidWrites(t *testing.T, tb table.Table) {
	k := key("inv", "a")
	tooMany := make([]table.Op, table.MaxWriteOps+1)
	for i := range tooMany {
		tooMany[i] = table.Op{Put: newRec("inv", fmt.Sprintf("%03d", i), "x")}
	}
	cases := []struct {
		name string
		ops  []table.Op
	}{
		{"two ops on one key", []table.Op{{Put: newRec("inv", "a", "x")}, {Delete: &k}}},
		{"op with nothing", []table.Op{{Cond: table.Exists()}}},
		{"op with put and delete", []table.Op{{Put: newRec("inv", "a", "x"), Delete: &k}}},
		{"empty sort key", []table.Op{{Put: newRec("inv", "", "x")}}},
		{"empty partition key", []table.Op{{Delete: &table.Key{SK: "a"}}}},
		{"too many ops", tooMany},
	}
	for _, c := range cases {
		err := tb.Write(t.Context(), c.ops...)
		if err == nil || errors.Is(err, table.ErrConditionFailed) {
			t.Errorf("%s: got %v, want a validation error", c.name, err)
		}
	}
	if got := pages(t, tb, table.Query{PK: "inv"}); len(got[0]) != 0 {
		t.Errorf("rejected writes stored %d items", len(got[0]))
	}
}

func testSparseIndexes(t *testing.T, tb table.Table) {
	x := &rec{Keys: table.Keys{PK: "sp#x", SK: "x", GSI1PK: "g1", GSI1SK: "x"}, Label: "x"}
	y := &rec{Keys: table.Keys{PK: "sp#y", SK: "y", GSI1PK: "g1"}, Label: "only pk"}
	z := &rec{Keys: table.Keys{PK: "sp#z", SK: "z", GSI2PK: "g2", GSI2SK: "old#1"}, Label: "z"}
	w := &rec{Keys: table.Keys{PK: "sp#w", SK: "w", GSI1PK: "g1", GSI1SK: "w", GSI2PK: "g2", GSI2SK: "w", GSI3PK: "g3", GSI3SK: "w", GSI4PK: "g4", GSI4SK: "w"}, Label: "all"}
	putAll(t, tb, x, y, z, w)
	index := func(ix table.Index, pk, prefix string) []string {
		t.Helper()
		var out []string
		for _, p := range pages(t, tb, table.Query{Index: ix, PK: pk, SKPrefix: prefix}) {
			for _, r := range p {
				out = append(out, r.PK+"="+r.Label)
			}
		}
		return out
	}
	check := func(step string, ix table.Index, pk, prefix string, want ...string) {
		t.Helper()
		if got := index(ix, pk, prefix); !slices.Equal(got, want) {
			t.Errorf("%s: %s %s %q: got %v, want %v", step, ix, pk, prefix, got, want)
		}
	}
	check("initial", table.GSI1, "g1", "", "sp#w=all", "sp#x=x")
	check("initial", table.GSI2, "g2", "", "sp#z=z", "sp#w=all")
	check("initial", table.GSI3, "g3", "", "sp#w=all")
	check("initial", table.GSI4, "g4", "", "sp#w=all")
	check("initial", table.GSI1, "g2", "")

	// Re-put x without its GSI1 keys, move z within GSI2.
	putAll(t, tb,
		&rec{Keys: table.Keys{PK: "sp#x", SK: "x"}, Label: "x2"},
		&rec{Keys: table.Keys{PK: "sp#z", SK: "z", GSI2PK: "g2", GSI2SK: "new#1"}, Label: "z2"},
	)
	check("after re-put", table.GSI1, "g1", "", "sp#w=all")
	check("after re-put", table.GSI2, "g2", "", "sp#z=z2", "sp#w=all")
	check("after re-put", table.GSI2, "g2", "old#")
	check("after re-put", table.GSI2, "g2", "new#", "sp#z=z2")

	// Move z to another index partition, then delete w.
	write(t, tb, table.Op{Put: &rec{Keys: table.Keys{PK: "sp#z", SK: "z", GSI2PK: "g2b", GSI2SK: "new#1"}, Label: "z3"}})
	wk := w.Key()
	write(t, tb, table.Op{Delete: &wk})
	check("after delete", table.GSI2, "g2", "")
	check("after delete", table.GSI2, "g2b", "", "sp#z=z3")
	for _, ix := range table.Indexes {
		check("after delete", ix, "g"+strings.TrimPrefix(string(ix), "GSI"), "")
	}
}

func testQueryRanges(t *testing.T, tb table.Table) {
	sks := []string{"a#1", "a#2", "a#3", "b#1", "b#2", "c"}
	var items []table.Item
	for i, sk := range sks {
		items = append(items,
			newRec("q", sk, sk),
			// The same sort keys in GSI1, from items of different partitions.
			&rec{Keys: table.Keys{PK: fmt.Sprintf("q#%d", i), SK: "x", GSI1PK: "gq", GSI1SK: sk}, Label: sk},
		)
	}
	putAll(t, tb, items...)
	cases := []struct {
		q    table.Query
		want []string
	}{
		{table.Query{}, sks},
		{table.Query{Descending: true}, []string{"c", "b#2", "b#1", "a#3", "a#2", "a#1"}},
		{table.Query{SKPrefix: "a#"}, []string{"a#1", "a#2", "a#3"}},
		{table.Query{SKPrefix: "a#", Descending: true}, []string{"a#3", "a#2", "a#1"}},
		{table.Query{SKPrefix: "b"}, []string{"b#1", "b#2"}},
		{table.Query{SKPrefix: "c"}, []string{"c"}},
		{table.Query{SKPrefix: "c", Descending: true}, []string{"c"}},
		{table.Query{SKPrefix: "a#2"}, []string{"a#2"}},
		{table.Query{SKPrefix: "zz"}, nil},
		{table.Query{SKPrefix: "0", Descending: true}, nil},
		{table.Query{SKFrom: "a#2"}, []string{"a#2", "a#3", "b#1", "b#2", "c"}},
		{table.Query{SKFrom: "a#2", Descending: true}, []string{"c", "b#2", "b#1", "a#3", "a#2"}},
		{table.Query{SKFrom: "b"}, []string{"b#1", "b#2", "c"}},
		{table.Query{SKTo: "b#1"}, []string{"a#1", "a#2", "a#3", "b#1"}},
		{table.Query{SKTo: "b#1", Descending: true}, []string{"b#1", "a#3", "a#2", "a#1"}},
		{table.Query{SKTo: "b"}, []string{"a#1", "a#2", "a#3"}},
		{table.Query{SKFrom: "a#3", SKTo: "b#2"}, []string{"a#3", "b#1", "b#2"}},
		{table.Query{SKFrom: "a#3", SKTo: "b#2", Descending: true}, []string{"b#2", "b#1", "a#3"}},
		{table.Query{SKFrom: "a#2", SKTo: "a#2"}, []string{"a#2"}},
		{table.Query{SKFrom: "a#4", SKTo: "a#9"}, nil},
		{table.Query{Limit: 2}, []string{"a#1", "a#2"}},
		{table.Query{Limit: 2, Descending: true}, []string{"c", "b#2"}},
		{table.Query{SKPrefix: "a#", Limit: 2, Descending: true}, []string{"a#3", "a#2"}},
		{table.Query{SKFrom: "a#2", SKTo: "b#2", Limit: 1}, []string{"a#2"}},
	}
	for _, ix := range []table.Index{table.Primary, table.GSI1} {
		for _, c := range cases {
			q := c.q
			q.Index, q.PK = ix, "q"
			if ix == table.GSI1 {
				q.PK = "gq"
			}
			var got []*rec
			next, err := tb.Query(t.Context(), q, &got)
			if err != nil {
				t.Errorf("%+v: %v", q, err)
				continue
			}
			var labels []string
			for _, r := range got {
				labels = append(labels, r.Label)
			}
			if !slices.Equal(labels, c.want) {
				t.Errorf("%+v: got %v, want %v", q, labels, c.want)
			}
			// A page has a next page exactly when more items match.
			all := q
			all.Limit = 1000
			var rest []*rec
			if _, err := tb.Query(t.Context(), all, &rest); err != nil {
				t.Fatalf("%+v: %v", all, err)
			}
			if more := len(rest) > len(got); (next != "") != more {
				t.Errorf("%+v: next %q, want a cursor: %v", q, next, more)
			}
		}
	}
}

// testQueryPartitions checks partitions whose keys share a prefix, and
// byte-wise sort order.
func testQueryPartitions(t *testing.T, tb table.Table) {
	sks := []string{"z", "a", "B", "10", "9", "é", "a#", "a\x01", "~"}
	var items []table.Item
	for _, pk := range []string{"p", "p2", "pp", "p#", "P"} {
		for _, sk := range sks {
			items = append(items, &rec{Keys: table.Keys{PK: pk, SK: sk, GSI3PK: "g" + pk, GSI3SK: sk}, Label: pk})
		}
	}
	putAll(t, tb, items...)
	want := []string{"10", "9", "B", "a", "a\x01", "a#", "z", "~", "é"}
	slices.Sort(want) // byte order, as DynamoDB sorts strings
	for _, ix := range []table.Index{table.Primary, table.GSI3} {
		for _, pk := range []string{"p", "p2", "P"} {
			qpk := pk
			if ix == table.GSI3 {
				qpk = "g" + pk
			}
			for _, desc := range []bool{false, true} {
				var got []*rec
				if _, err := tb.Query(t.Context(), table.Query{Index: ix, PK: qpk, Descending: desc}, &got); err != nil {
					t.Fatalf("query: %v", err)
				}
				w := slices.Clone(want)
				if desc {
					slices.Reverse(w)
				}
				if sk := sortKeys(got); !slices.Equal(sk, w) {
					t.Errorf("%s %q desc=%v: got %q, want %q", ix, qpk, desc, sk, w)
				}
				for _, r := range got {
					if r.Label != pk {
						t.Errorf("%s %q: item of partition %q leaked in", ix, qpk, r.Label)
					}
				}
			}
		}
	}
	var none []*rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "p3"}, &none); err != nil || len(none) != 0 {
		t.Errorf("empty partition: got %d items, %v", len(none), err)
	}
}

// testQueryOut checks the kinds of out Query accepts, and that it appends.
func testQueryOut(t *testing.T, tb table.Table) {
	putAll(t, tb, newRec("out", "1", "one"), newRec("out", "2", "two"))
	values := []rec{{Label: "kept"}}
	if _, err := tb.Query(t.Context(), table.Query{PK: "out"}, &values); err != nil {
		t.Fatalf("query into []rec: %v", err)
	}
	if len(values) != 3 || values[0].Label != "kept" || values[2].Label != "two" {
		t.Errorf("query into []rec: got %+v", values)
	}
	var ptrs []*rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "out"}, &ptrs); err != nil {
		t.Fatalf("query into []*rec: %v", err)
	}
	if len(ptrs) != 2 || ptrs[0].Label != "one" || ptrs[1].SK != "2" {
		t.Errorf("query into []*rec: got %+v", ptrs)
	}
	var empty []*rec
	next, err := tb.Query(t.Context(), table.Query{PK: "nothing"}, &empty)
	if err != nil || next != "" || len(empty) != 0 {
		t.Errorf("empty query: got %d items, next %q, %v", len(empty), next, err)
	}
}

func testPaging(t *testing.T, tb table.Table) {
	const n = 250
	var items []table.Item
	for i := range n {
		items = append(items, &rec{
			Keys: table.Keys{
				PK: "page", SK: fmt.Sprintf("item#%03d", i),
				GSI1PK: "page-rev", GSI1SK: fmt.Sprintf("%03d", n-1-i),
				GSI2PK: "page-tie", GSI2SK: "same", // equal index sort keys: order by table key
			},
			Label: fmt.Sprint(i),
		})
	}
	putAll(t, tb, items...)
	cases := []struct {
		name    string
		q       table.Query
		ordered bool // want items in SK order (reversed if Descending)
	}{
		{"primary by 7", table.Query{PK: "page", Limit: 7}, true},
		{"primary by 7 descending", table.Query{PK: "page", Limit: 7, Descending: true}, true},
		{"primary by 50 (exact pages)", table.Query{PK: "page", Limit: 50}, true},
		{"primary by default", table.Query{PK: "page"}, true},
		{"primary all at once", table.Query{PK: "page", Limit: n}, true},
		{"GSI1 by 13", table.Query{Index: table.GSI1, PK: "page-rev", Limit: 13, Descending: true}, true},
		{"GSI2 ties by 10", table.Query{Index: table.GSI2, PK: "page-tie", Limit: 10}, false},
		{"GSI2 ties by 9 descending", table.Query{Index: table.GSI2, PK: "page-tie", Limit: 9, Descending: true}, false},
	}
	for _, c := range cases {
		limit := c.q.Limit
		if limit == 0 {
			limit = table.DefaultLimit
		}
		ps := pages(t, tb, c.q)
		var got []string
		for i, p := range ps {
			if len(p) == 0 || len(p) > limit || i < len(ps)-1 && len(p) != limit {
				t.Errorf("%s: page %d has %d items (limit %d, %d pages)", c.name, i, len(p), limit, len(ps))
			}
			got = append(got, sortKeys(p)...)
		}
		if wantPages := (n + limit - 1) / limit; len(ps) != wantPages {
			t.Errorf("%s: %d pages, want %d", c.name, len(ps), wantPages)
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		if len(slices.Compact(slices.Clone(sorted))) != len(got) || len(got) != n {
			t.Errorf("%s: %d items, %d distinct, want %d", c.name, len(got), len(slices.Compact(sorted)), n)
		}
		if c.ordered {
			want := slices.Clone(sorted)
			ascending := c.q.Descending == (c.q.Index == table.GSI1) // GSI1 runs backwards
			if !ascending {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: out of order: got %v...", c.name, got[:min(len(got), 10)])
			}
		}
	}
	// A cursor stays valid after its item is deleted.
	var first []*rec
	next, err := tb.Query(t.Context(), table.Query{PK: "page", Limit: 5}, &first)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	lastKey := first[4].Key()
	write(t, tb, table.Op{Delete: &lastKey})
	var second []*rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "page", Limit: 5, Cursor: next}, &second); err != nil {
		t.Fatalf("query after deleting the cursor's item: %v", err)
	}
	if got := sortKeys(second); !slices.Equal(got, []string{"item#005", "item#006", "item#007", "item#008", "item#009"}) {
		t.Errorf("page after deleted cursor item: got %v", got)
	}
}

func testBadCursor(t *testing.T, tb table.Table) {
	putAll(t, tb,
		&rec{Keys: table.Keys{PK: "bc", SK: "1", GSI1PK: "bcg", GSI1SK: "1"}},
		&rec{Keys: table.Keys{PK: "bc", SK: "2", GSI1PK: "bcg", GSI1SK: "2"}},
		&rec{Keys: table.Keys{PK: "bc2", SK: "1"}},
		&rec{Keys: table.Keys{PK: "bc2", SK: "2"}},
	)
	cursor := func(q table.Query) string {
		var got []*rec
		q.Limit = 1
		next, err := tb.Query(t.Context(), q, &got)
		if err != nil || next == "" {
			t.Fatalf("query %+v: next %q, %v", q, next, err)
		}
		return next
	}
	primary := cursor(table.Query{PK: "bc"})
	other := cursor(table.Query{PK: "bc2"})
	gsi := cursor(table.Query{Index: table.GSI1, PK: "bcg"})
	b64 := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name   string
		q      table.Query
		cursor string
	}{
		{"garbage", table.Query{PK: "bc"}, "not a cursor!"},
		{"base64 of text", table.Query{PK: "bc"}, b64([]byte("hello"))},
		{"empty object", table.Query{PK: "bc"}, b64([]byte("{}"))},
		{"truncated", table.Query{PK: "bc"}, primary[:len(primary)/2]},
		{"other partition", table.Query{PK: "bc"}, other},
		{"primary cursor on GSI1", table.Query{Index: table.GSI1, PK: "bcg"}, primary},
		{"GSI1 cursor on primary", table.Query{PK: "bc"}, gsi},
		{"outside the prefix", table.Query{PK: "bc", SKPrefix: "2"}, primary},
	}
	for _, c := range cases {
		var got []*rec
		c.q.Cursor = c.cursor
		if _, err := tb.Query(t.Context(), c.q, &got); !errors.Is(err, table.ErrBadCursor) {
			t.Errorf("%s: got %v, want ErrBadCursor", c.name, err)
		}
	}
	var got []*rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "bc", Cursor: primary}, &got); err != nil || len(got) != 1 || got[0].SK != "2" {
		t.Errorf("good cursor: got %v, %v", got, err)
	}
}

func testInvalidQueries(t *testing.T, tb table.Table) {
	cases := []table.Query{
		{PK: ""},
		{PK: "x", SKPrefix: "a", SKFrom: "a"},
		{PK: "x", SKPrefix: "a", SKTo: "b"},
		{PK: "x", SKFrom: "b", SKTo: "a"},
		{PK: "x", Limit: -1},
		{PK: "x", Index: "GSI9"},
	}
	for _, q := range cases {
		var got []*rec
		if _, err := tb.Query(t.Context(), q, &got); err == nil || errors.Is(err, table.ErrBadCursor) {
			t.Errorf("%+v: got %v, want a validation error", q, err)
		}
	}
	var notSlice rec
	if _, err := tb.Query(t.Context(), table.Query{PK: "x"}, &notSlice); err == nil {
		t.Errorf("query into a struct: no error")
	}
	if err := tb.Get(t.Context(), key("x", "y"), rec{}); err == nil {
		t.Errorf("get into a non-pointer: no error")
	}
}

// testCounter increments one counter from concurrent goroutines with
// version-conditioned writes, retrying lost races. With withLog, each
// increment also creates a log item in the same Write (a transaction).
func testCounter(t *testing.T, tb table.Table, workers, increments int, withLog bool) {
	k := key("counter", "c")
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var retries sync.Map
	for w := range workers {
		wg.Go(func() {
			lost := [2]int{} // condition failures, conflicts
			for range increments {
				for {
					var c rec
					err := tb.Get(ctx, k, &c)
					if err != nil && !errors.Is(err, table.ErrNotFound) {
						errs <- err
						return
					}
					next := &rec{Keys: table.Keys{PK: k.PK, SK: k.SK, Ver: c.Ver + 1}, N: c.N + 1}
					ops := []table.Op{{Put: next, Cond: table.Version(c.Ver)}}
					if withLog {
						entry := newRec("counter-log", fmt.Sprintf("%04d", next.N), fmt.Sprint(w))
						ops = append(ops, table.Op{Put: entry, Cond: table.NotExists()})
					}
					err = tb.Write(ctx, ops...)
					if errors.Is(err, table.ErrConditionFailed) {
						lost[0]++
						continue
					}
					if errors.Is(err, table.ErrConflict) {
						lost[1]++
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
			retries.Store(w, lost)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker: %v", err)
	}
	var got rec
	if err := tb.Get(ctx, k, &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if want := int64(workers * increments); got.N != want || got.Ver != want {
		t.Errorf("counter: got n=%d ver=%d, want %d", got.N, got.Ver, want)
	}
	if withLog {
		var n int
		for _, p := range pages(t, tb, table.Query{PK: "counter-log", Limit: 1000}) {
			n += len(p)
		}
		if n != workers*increments {
			t.Errorf("log: got %d entries, want %d", n, workers*increments)
		}
	}
	var total [2]int
	retries.Range(func(_, v any) bool {
		total[0] += v.([2]int)[0]
		total[1] += v.([2]int)[1]
		return true
	})
	t.Logf("%d increments; lost races retried: %d condition failures, %d conflicts", got.N, total[0], total[1])
}

// testTTL checks that items past their ttl count as absent everywhere,
// before any sweep deletes them (DynamoDB deletes them days later).
func testTTL(t *testing.T, tb table.Table) {
	now := time.Now()
	item := func(sk string, ttl int64) *rec {
		return &rec{Keys: table.Keys{PK: "ttl", SK: sk, GSI1PK: "ttl-g", GSI1SK: sk, TTL: ttl}, Label: sk}
	}
	putAll(t, tb,
		item("expired", now.Add(-time.Minute).Unix()),
		item("expired-2", now.Add(-48*time.Hour).Unix()),
		item("future", now.Add(time.Hour).Unix()),
		item("forever", 0),
	)
	if _, err := getLabel(t, tb, key("ttl", "expired")); !errors.Is(err, table.ErrNotFound) {
		t.Errorf("get expired: got %v, want ErrNotFound", err)
	}
	if label, err := getLabel(t, tb, key("ttl", "future")); err != nil || label != "future" {
		t.Errorf("get unexpired: got %q, %v", label, err)
	}
	for _, ix := range []table.Index{table.Primary, table.GSI1} {
		pk := "ttl"
		if ix == table.GSI1 {
			pk = "ttl-g"
		}
		for _, limit := range []int{0, 1} {
			var got []string
			for _, p := range pages(t, tb, table.Query{Index: ix, PK: pk, Limit: limit}) {
				got = append(got, sortKeys(p)...)
			}
			if want := []string{"forever", "future"}; !slices.Equal(got, want) {
				t.Errorf("%s limit %d: got %v, want %v", ix, limit, got, want)
			}
		}
	}
	// An expired item does not block a create, and does not satisfy Exists.
	if err := tb.Write(t.Context(), table.Op{Put: item("expired", 0), Cond: table.NotExists()}); err != nil {
		t.Errorf("create over expired item: %v", err)
	}
	if label, err := getLabel(t, tb, key("ttl", "expired")); err != nil || label != "expired" {
		t.Errorf("get re-created item: got %q, %v", label, err)
	}
	ek := key("ttl", "expired-2")
	if err := tb.Write(t.Context(), table.Op{Check: &ek, Cond: table.Exists()}); !errors.Is(err, table.ErrConditionFailed) {
		t.Errorf("exists on expired item: got %v, want condition failure", err)
	}
}

// testCursorOutsideRange: a range bound that moved since the cursor was
// issued ("the last 2 hours", a page later) leaves the cursor before the
// range, where the query reads from the range's start, or past it, where
// nothing is left. Neither is an error.
func testCursorOutsideRange(t *testing.T, tb table.Table) {
	for _, sk := range []string{"1", "2", "3", "4", "5"} {
		putAll(t, tb, &rec{Keys: table.Keys{PK: "mr", SK: sk, GSI1PK: "mrg", GSI1SK: sk}})
	}
	for _, ix := range []table.Index{table.Primary, table.GSI1} {
		pk := map[table.Index]string{table.Primary: "mr", table.GSI1: "mrg"}[ix]
		first := func(q table.Query) string {
			var got []*rec
			q.Limit = 1
			next, err := tb.Query(t.Context(), q, &got)
			if err != nil || next == "" {
				t.Fatalf("%s first page %+v: next %q, %v", ix, q, next, err)
			}
			return next
		}
		cases := []struct {
			name       string
			from, to   table.Query
			wantSorted []string
		}{
			// Newest first, from 2: the cursor is at 5; the bound moves up past it.
			{"descending, cursor past the end", table.Query{Descending: true, SKFrom: "2"}, table.Query{Descending: true, SKFrom: "6"}, nil},
			// Oldest first from 1: the cursor is at 1; the bound moves to 3.
			{"ascending, cursor before the start", table.Query{SKFrom: "1"}, table.Query{SKFrom: "3"}, []string{"3", "4", "5"}},
			{"ascending, cursor past the end", table.Query{SKFrom: "4"}, table.Query{SKFrom: "1", SKTo: "3"}, nil},
			{"descending, cursor before the start", table.Query{Descending: true, SKTo: "5"}, table.Query{Descending: true, SKTo: "3"}, []string{"3", "2", "1"}},
		}
		for _, c := range cases {
			c.from.Index, c.from.PK, c.to.Index, c.to.PK = ix, pk, ix, pk
			c.to.Cursor = first(c.from)
			var got []*rec
			next, err := tb.Query(t.Context(), c.to, &got)
			if err != nil || next != "" || !slices.Equal(sortKeys(got), c.wantSorted) {
				t.Errorf("%s %s: got %v next %q err %v, want %v", ix, c.name, sortKeys(got), next, err, c.wantSorted)
			}
		}
	}
}
