// Package dynamo implements table.Table on one DynamoDB table (see
// TableDefinition for its schema).
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wacrm/wacrm/shared/table"
)

// Table is a table.Table on DynamoDB. Safe for concurrent use.
type Table struct {
	client   *dynamodb.Client
	name     string
	capacity func(units float64)
	attempts int
}

var _ table.Table = (*Table)(nil)

// Option configures a Table.
type Option func(*Table)

// WithCapacity asks DynamoDB for the consumed capacity (TOTAL) of every
// request and reports its units to fn, per request.
func WithCapacity(fn func(units float64)) Option {
	return func(t *Table) { t.capacity = fn }
}

// WithConflictAttempts sets how many times Write tries a write that keeps
// colliding with concurrent transactions before it returns ErrConflict.
func WithConflictAttempts(n int) Option {
	return func(t *Table) { t.attempts = max(n, 1) }
}

// New returns the table named tableName, reached through client.
func New(client *dynamodb.Client, tableName string, opts ...Option) *Table {
	t := &Table{client: client, name: tableName, attempts: 5}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

func (t *Table) returnCapacity() types.ReturnConsumedCapacity {
	if t.capacity == nil {
		return types.ReturnConsumedCapacityNone
	}
	return types.ReturnConsumedCapacityTotal
}

func (t *Table) consumed(ccs ...types.ConsumedCapacity) {
	if t.capacity == nil {
		return
	}
	var units float64
	for _, cc := range ccs {
		units += aws.ToFloat64(cc.CapacityUnits)
	}
	t.capacity(units)
}

func (t *Table) consumedOne(cc *types.ConsumedCapacity) {
	if cc != nil {
		t.consumed(*cc)
	}
}

// Get implements table.Table with a strongly consistent GetItem.
func (t *Table) Get(ctx context.Context, key table.Key, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("get %s: out must be a non-nil pointer to a struct, got %T", key, out)
	}
	res, err := t.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:              &t.name,
		Key:                    primaryKey(key),
		ConsistentRead:         aws.Bool(true),
		ReturnConsumedCapacity: t.returnCapacity(),
	})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	t.consumedOne(res.ConsumedCapacity)
	if res.Item == nil || expired(res.Item, time.Now()) {
		return fmt.Errorf("get %s: %w", key, table.ErrNotFound)
	}
	rv.Elem().SetZero() // like a fresh read: no field survives from before
	if err := unmarshalItem(res.Item, out); err != nil {
		return fmt.Errorf("get %s: decode: %w", key, err)
	}
	return nil
}

// Query implements table.Table. Each request asks for one item more than
// still needed, so the page knows whether another follows and the last
// page ends with "" rather than an empty page; expired items are skipped.
func (t *Table) Query(ctx context.Context, q table.Query, out any) (string, error) {
	limit, err := table.CheckQuery(q)
	if err != nil {
		return "", err
	}
	slice := reflect.ValueOf(out)
	if slice.Kind() != reflect.Pointer || slice.IsNil() || slice.Elem().Kind() != reflect.Slice {
		return "", fmt.Errorf("query %s %q: out must be a pointer to a slice, got %T", q.Index, q.PK, out)
	}
	slice = slice.Elem()

	in := &dynamodb.QueryInput{
		TableName:                 &t.name,
		ExpressionAttributeNames:  map[string]string{"#pk": q.Index.PKAttr()},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(q.PK)},
		ScanIndexForward:          aws.Bool(!q.Descending),
		ReturnConsumedCapacity:    t.returnCapacity(),
	}
	cond := "#pk = :pk"
	sk := func(expr string, values ...string) {
		cond += " AND " + expr
		in.ExpressionAttributeNames["#sk"] = q.Index.SKAttr()
		for i, v := range values {
			in.ExpressionAttributeValues[":sk"+strconv.Itoa(i)] = str(v)
		}
	}
	switch {
	case q.SKPrefix != "":
		sk("begins_with(#sk, :sk0)", q.SKPrefix)
	case q.SKFrom != "" && q.SKTo != "":
		sk("#sk BETWEEN :sk0 AND :sk1", q.SKFrom, q.SKTo)
	case q.SKFrom != "":
		sk("#sk >= :sk0", q.SKFrom)
	case q.SKTo != "":
		sk("#sk <= :sk0", q.SKTo)
	}
	in.KeyConditionExpression = &cond
	if q.Index == table.Primary {
		in.ConsistentRead = aws.Bool(true) // GSIs are eventually consistent only
	} else {
		in.IndexName = aws.String(string(q.Index))
	}
	if q.Cursor != "" {
		c, err := table.DecodeCursor(q.Cursor, q)
		if err != nil {
			return "", err
		}
		// DynamoDB refuses a start key outside the key condition.
		switch q.Position(c) {
		case 0:
			in.ExclusiveStartKey = startKey(q.Index, c)
		case 1:
			return "", nil
		}
	}

	now := time.Now()
	var live []map[string]types.AttributeValue
	for {
		in.Limit = aws.Int32(int32(min(limit-len(live)+1, 1<<30)))
		res, err := t.client.Query(ctx, in)
		if err != nil {
			return "", fmt.Errorf("query %s %q: %w", q.Index, q.PK, err)
		}
		t.consumedOne(res.ConsumedCapacity)
		for _, item := range res.Items {
			if !expired(item, now) {
				live = append(live, item)
			}
		}
		if len(live) > limit || res.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}

	var next string
	if len(live) > limit {
		live = live[:limit]
		var keys table.Keys
		if err := unmarshalItem(live[limit-1], &keys); err != nil {
			return "", fmt.Errorf("query %s %q: decode keys: %w", q.Index, q.PK, err)
		}
		next = table.EncodeCursor(table.CursorAt(&keys, q.Index))
	}
	page := reflect.MakeSlice(slice.Type(), 0, len(live))
	for _, item := range live {
		elem, err := decodeElem(item, slice.Type().Elem())
		if err != nil {
			return "", fmt.Errorf("query %s %q: decode: %w", q.Index, q.PK, err)
		}
		page = reflect.Append(page, elem)
	}
	slice.Set(reflect.AppendSlice(slice, page))
	return next, nil
}

// Write implements table.Table: PutItem or DeleteItem for one op,
// TransactWriteItems otherwise. Writes cancelled by concurrent transactions
// are retried with jittered backoff, then reported as table.ErrConflict.
func (t *Table) Write(ctx context.Context, ops ...table.Op) error {
	if err := table.CheckOps(ops); err != nil {
		return err
	}
	// A Check without a condition has nothing to check: leave it out, but
	// remember which op each request item stands for.
	var idx []int
	for i, op := range ops {
		if op.Check == nil || op.Cond.Kind != table.CondNone {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := t.write(ctx, ops, idx)
		if !errors.Is(err, errRetry) {
			return err
		}
		if attempt == t.attempts {
			return fmt.Errorf("write %d ops after %d attempts: %w: %v", len(ops), attempt, table.ErrConflict, err)
		}
		// Full jitter over an exponential ceiling: 25ms, 50ms, 100ms, ...
		ceiling := 25 * time.Millisecond << (attempt - 1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("write %d ops: %w", len(ops), ctx.Err())
		case <-time.After(rand.N(ceiling) + time.Millisecond):
		}
	}
}

// errRetry marks a write cancelled by a concurrent transaction.
var errRetry = errors.New("cancelled by a concurrent transaction")

func (t *Table) write(ctx context.Context, ops []table.Op, idx []int) error {
	now := time.Now().Unix()
	if len(idx) == 1 && ops[idx[0]].Check == nil {
		return t.writeOne(ctx, ops[idx[0]], idx[0], now)
	}
	items := make([]types.TransactWriteItem, len(idx))
	for j, i := range idx {
		op := ops[i]
		key, _ := op.Key()
		expr, names, values := condition(op.Cond, now)
		switch {
		case op.Put != nil:
			item, err := marshalItem(op.Put)
			if err != nil {
				return fmt.Errorf("write op %d: encode %s: %w", i, key, err)
			}
			items[j].Put = &types.Put{TableName: &t.name, Item: item,
				ConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
		case op.Delete != nil:
			items[j].Delete = &types.Delete{TableName: &t.name, Key: primaryKey(key),
				ConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
		case op.Check != nil:
			items[j].ConditionCheck = &types.ConditionCheck{TableName: &t.name, Key: primaryKey(key),
				ConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
		}
	}
	res, err := t.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:          items,
		ReturnConsumedCapacity: t.returnCapacity(),
	})
	if err == nil {
		t.consumed(res.ConsumedCapacity...)
		return nil
	}
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		retry := false
		for j, reason := range cancelled.CancellationReasons {
			switch code := aws.ToString(reason.Code); code {
			case "None", "":
			case "ConditionalCheckFailed":
				if j < len(idx) {
					key, _ := ops[idx[j]].Key()
					return &table.ConditionError{Op: idx[j], Key: key}
				}
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				retry = true
			default:
				return fmt.Errorf("write %d ops: op %d: %s: %w", len(ops), idx[min(j, len(idx)-1)], code, err)
			}
		}
		if retry {
			return fmt.Errorf("%w: %v", errRetry, err)
		}
	}
	var inProgress *types.TransactionInProgressException
	if errors.As(err, &inProgress) {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	return fmt.Errorf("write %d ops: %w", len(ops), err)
}

func (t *Table) writeOne(ctx context.Context, op table.Op, i int, now int64) error {
	key, _ := op.Key()
	expr, names, values := condition(op.Cond, now)
	var err error
	if op.Put != nil {
		item, merr := marshalItem(op.Put)
		if merr != nil {
			return fmt.Errorf("put %s: encode: %w", key, merr)
		}
		var res *dynamodb.PutItemOutput
		res, err = t.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &t.name, Item: item, ReturnConsumedCapacity: t.returnCapacity(),
			ConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		if err == nil {
			t.consumedOne(res.ConsumedCapacity)
		}
	} else {
		var res *dynamodb.DeleteItemOutput
		res, err = t.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &t.name, Key: primaryKey(key), ReturnConsumedCapacity: t.returnCapacity(),
			ConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		if err == nil {
			t.consumedOne(res.ConsumedCapacity)
		}
	}
	var failed *types.ConditionalCheckFailedException
	var conflict *types.TransactionConflictException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failed):
		return &table.ConditionError{Op: i, Key: key}
	case errors.As(err, &conflict): // the item is in a concurrent transaction
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	verb := "put"
	if op.Delete != nil {
		verb = "delete"
	}
	return fmt.Errorf("%s %s: %w", verb, key, err)
}

// condition renders a table.Cond as a condition expression. An item whose
// ttl has passed counts as absent, as in every implementation (see
// table.Expired): DynamoDB deletes it only eventually.
func condition(c table.Cond, now int64) (expr *string, names map[string]string, values map[string]types.AttributeValue) {
	var e string
	names = map[string]string{}
	values = map[string]types.AttributeValue{}
	const live = "(attribute_not_exists(#ttl) OR #ttl >= :now)"
	const gone = "attribute_not_exists(#pk) OR #ttl < :now"
	switch c.Kind {
	case table.CondNone:
		return nil, nil, nil
	case table.CondNotExists:
		e = gone
	case table.CondExists:
		e = "attribute_exists(#pk) AND " + live
	case table.CondVersion:
		e = gone
		if c.N != 0 {
			e = "#ver = :n AND " + live
			names["#ver"] = table.AttrVersion
			values[":n"] = num(c.N)
		}
	case table.CondLess:
		e = "attribute_not_exists(#a) OR #a < :n OR #ttl < :now"
		names["#a"] = c.Attr
		values[":n"] = num(c.N)
	}
	if e == gone || c.Kind == table.CondExists {
		names["#pk"] = table.AttrPK
	}
	names["#ttl"] = table.AttrTTL
	values[":now"] = num(now)
	return &e, names, values
}

// expired reports whether a read item's ttl has passed.
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	n, ok := item[table.AttrTTL].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseFloat(n.Value, 64)
	return err == nil && table.Expired(int64(ttl), now)
}

func primaryKey(k table.Key) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: str(k.PK), table.AttrSK: str(k.SK)}
}

// startKey is the ExclusiveStartKey for a cursor: the index keys plus the
// table keys, as DynamoDB's LastEvaluatedKey holds them.
func startKey(ix table.Index, c table.CursorKey) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{table.AttrPK: str(c.PK), table.AttrSK: str(c.SK)}
	if ix != table.Primary {
		k[ix.PKAttr()] = str(c.IPK)
		k[ix.SKAttr()] = str(c.ISK)
	}
	return k
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
