// Package table is the storage port: one table of items addressed by a
// partition key and a sort key, with four sparse global secondary indexes,
// conditional writes and atomic multi-item writes. It is DynamoDB's single
// table shape, kept small enough that an embedded twin can honour it exactly.
//
// Implementations: aws/dynamo (DynamoDB) and local/boltstore (one local file).
// Both pass the suite in table/tabletest.
package table

import (
	"context"
	"errors"
	"fmt"
)

// Attribute names shared by every implementation and by the CDK stack.
const (
	AttrPK      = "PK"
	AttrSK      = "SK"
	AttrTTL     = "ttl" // unix seconds; DynamoDB's TTL deletes the item some time after
	AttrVersion = "ver" // optimistic concurrency counter, see CondVersion
)

// Index names a sort order: the table itself or one of its sparse GSIs.
// An item appears in a GSI only when it carries both of that index's keys.
type Index string

const (
	Primary Index = ""
	GSI1    Index = "GSI1"
	GSI2    Index = "GSI2"
	GSI3    Index = "GSI3"
	GSI4    Index = "GSI4"
)

// Indexes lists the secondary indexes, for adapters that create them.
var Indexes = []Index{GSI1, GSI2, GSI3, GSI4}

// PKAttr and SKAttr name an index's key attributes ("GSI1PK", "GSI1SK").
func (i Index) PKAttr() string {
	if i == Primary {
		return AttrPK
	}
	return string(i) + "PK"
}

func (i Index) SKAttr() string {
	if i == Primary {
		return AttrSK
	}
	return string(i) + "SK"
}

// Key is an item's primary key.
type Key struct {
	PK string `json:"PK"`
	SK string `json:"SK"`
}

func (k Key) String() string { return k.PK + "|" + k.SK }

// Keys is embedded in every stored item struct. Index keys left empty keep
// the item out of that index (sparse indexes).
type Keys struct {
	PK     string `json:"PK"`
	SK     string `json:"SK"`
	GSI1PK string `json:"GSI1PK,omitempty"`
	GSI1SK string `json:"GSI1SK,omitempty"`
	GSI2PK string `json:"GSI2PK,omitempty"`
	GSI2SK string `json:"GSI2SK,omitempty"`
	GSI3PK string `json:"GSI3PK,omitempty"`
	GSI3SK string `json:"GSI3SK,omitempty"`
	GSI4PK string `json:"GSI4PK,omitempty"`
	GSI4SK string `json:"GSI4SK,omitempty"`
	TTL    int64  `json:"ttl,omitempty"`
	Ver    int64  `json:"ver,omitempty"`
}

// TableKeys returns the keys; it makes every struct embedding Keys an Item.
func (k *Keys) TableKeys() *Keys { return k }

// Key returns the primary key.
func (k *Keys) Key() Key { return Key{PK: k.PK, SK: k.SK} }

// IndexKey returns the item's key in index i, and whether the item is in it.
func (k *Keys) IndexKey(i Index) (pk, sk string, ok bool) {
	switch i {
	case Primary:
		return k.PK, k.SK, true
	case GSI1:
		pk, sk = k.GSI1PK, k.GSI1SK
	case GSI2:
		pk, sk = k.GSI2PK, k.GSI2SK
	case GSI3:
		pk, sk = k.GSI3PK, k.GSI3SK
	case GSI4:
		pk, sk = k.GSI4PK, k.GSI4SK
	}
	return pk, sk, pk != "" && sk != ""
}

// Item is a struct (passed by pointer) that embeds Keys and whose other
// fields carry `json` tags; the tags name the stored attributes.
type Item interface {
	TableKeys() *Keys
}

// CondKind is the kind of precondition on a write.
type CondKind int

const (
	CondNone      CondKind = iota
	CondNotExists          // no item with this key exists
	CondExists             // an item with this key exists
	CondVersion            // the item's "ver" equals N (N == 0: the item does not exist)
	CondLess               // the item has no attribute Attr, or its number is < N
)

// Cond is a precondition on one write. Attr/N are used by CondVersion and CondLess.
type Cond struct {
	Kind CondKind
	Attr string
	N    int64
}

func NotExists() Cond                { return Cond{Kind: CondNotExists} }
func Exists() Cond                   { return Cond{Kind: CondExists} }
func Version(n int64) Cond           { return Cond{Kind: CondVersion, Attr: AttrVersion, N: n} }
func Less(attr string, n int64) Cond { return Cond{Kind: CondLess, Attr: attr, N: n} }

// Op is one write in a Write call: exactly one of Put, Delete or Check is set.
type Op struct {
	Put    Item // replaces the whole item
	Delete *Key
	Check  *Key // only evaluates Cond, writes nothing
	Cond   Cond
}

// Query reads one index partition in sort-key order, a page at a time.
type Query struct {
	Index      Index
	PK         string
	SKPrefix   string // begins_with; mutually exclusive with SKFrom/SKTo
	SKFrom     string // inclusive lower bound, "" = none
	SKTo       string // inclusive upper bound, "" = none
	Descending bool
	Limit      int    // page size; 0 = implementation default (100)
	Cursor     string // opaque, from a previous page; "" = first page
}

// Table is the port. Errors: ErrNotFound from Get; *ConditionError (which
// matches ErrConditionFailed) from Write when a Cond fails; ErrConflict from
// Write when concurrent transactions kept colliding (retry later);
// ErrBadCursor from Query on a cursor it did not issue.
type Table interface {
	// Get decodes the item at key into out (a pointer to a struct).
	Get(ctx context.Context, key Key, out any) error
	// Query appends the page's items to out (a pointer to a slice of
	// structs) and returns the cursor of the next page, "" at the end.
	Query(ctx context.Context, q Query, out any) (next string, err error)
	// Write applies all ops atomically: every condition holds and every
	// write lands, or nothing changes. At most MaxWriteOps ops, at most one
	// per key.
	Write(ctx context.Context, ops ...Op) error
}

// MaxWriteOps is DynamoDB's TransactWriteItems limit.
const MaxWriteOps = 100

var (
	ErrNotFound        = errors.New("item not found")
	ErrConditionFailed = errors.New("condition failed")
	ErrBadCursor       = errors.New("invalid cursor")
	// ErrConflict: the write collided with concurrent transactions on the
	// same items even after retries; nothing changed and it is safe to retry.
	ErrConflict = errors.New("write conflict")
)

// ConditionError says which op of a Write failed its condition.
type ConditionError struct {
	Op  int // index into the ops slice
	Key Key
}

func (e *ConditionError) Error() string {
	return fmt.Sprintf("condition failed on op %d (%s)", e.Op, e.Key)
}

func (e *ConditionError) Is(target error) bool { return target == ErrConditionFailed }

// FailedOp returns the index of the op whose condition failed, or -1.
func FailedOp(err error) int {
	var ce *ConditionError
	if errors.As(err, &ce) {
		return ce.Op
	}
	return -1
}
