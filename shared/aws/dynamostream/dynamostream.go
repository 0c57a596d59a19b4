// Package dynamostream implements changes.Stream on the DynamoDB Streams
// API (DescribeStream, GetShardIterator, GetRecords) of the table's
// NEW_AND_OLD_IMAGES stream. On AWS, Lambda's event source mappings poll the
// stream (aws/lambdastream); this poller serves the contract suite on
// DynamoDB Local's Streams API and any process that consumes the stream
// itself. Images are decoded with the table adapter's codec, so a consumer
// reads the same item struct as from table.Table.
package dynamostream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/wacrm/wacrm/shared/aws/dynamo"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/table"
)

// Positions keeps each consumer's position: per shard, the sequence
// number of the last change it committed (or shardDone).
type Positions interface {
	Load(ctx context.Context, consumer string) (map[string]string, error)
	Save(ctx context.Context, consumer string, shards map[string]string) error
}

// MemoryPositions keeps positions in memory: a restart of the process
// starts again from the oldest record the stream holds (at least once).
type MemoryPositions struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (p *MemoryPositions) Load(_ context.Context, consumer string) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m[consumer]), nil
}

func (p *MemoryPositions) Save(_ context.Context, consumer string, shards map[string]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]map[string]string{}
	}
	p.m[consumer] = maps.Clone(shards)
	return nil
}

// shardDone marks a closed shard a consumer has read to its end.
const shardDone = "done"

// Stream is a changes.Stream on one DynamoDB stream.
type Stream struct {
	client    *dynamodbstreams.Client
	arn       string
	positions Positions
}

var _ changes.Stream = (*Stream)(nil)

// New returns the stream with ARN streamARN (see StreamARN), keeping
// positions in positions (a *MemoryPositions when nil).
func New(client *dynamodbstreams.Client, streamARN string, positions Positions) *Stream {
	if positions == nil {
		positions = &MemoryPositions{}
	}
	return &Stream{client: client, arn: streamARN, positions: positions}
}

// StreamARN returns the ARN of the table's current stream.
func StreamARN(ctx context.Context, client *dynamodb.Client, tableName string) (string, error) {
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &tableName})
	if err != nil {
		return "", fmt.Errorf("describe table %s: %w", tableName, err)
	}
	if out.Table.LatestStreamArn == nil {
		return "", fmt.Errorf("table %s has no stream", tableName)
	}
	return *out.Table.LatestStreamArn, nil
}

// Read implements changes.Stream: shards in order of their sequence
// numbers, a child only once its parent is read to its end, so the changes
// of one item keep their order.
func (s *Stream) Read(ctx context.Context, consumer string, limit int) ([]changes.Change, error) {
	if consumer == "" || limit <= 0 {
		return nil, fmt.Errorf("read changes: need a consumer name and a positive limit (got %q, %d)", consumer, limit)
	}
	pos, err := s.positions.Load(ctx, consumer)
	if err != nil {
		return nil, fmt.Errorf("load positions of %s: %w", consumer, err)
	}
	if pos == nil {
		pos = map[string]string{}
	}
	shards, err := s.shards(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, sh := range shards {
		known[aws.ToString(sh.ShardId)] = true
	}
	var out []changes.Change
	finished := false
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if pos[id] == shardDone {
			continue
		}
		if parent := aws.ToString(sh.ParentShardId); parent != "" && known[parent] && pos[parent] != shardDone {
			continue // the parent's changes come first
		}
		got, ended, err := s.readShard(ctx, sh, pos[id], limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("read changes for %s: %w", consumer, err)
		}
		if ended && len(got) == 0 {
			pos[id] = shardDone
			finished = true
		}
		out = append(out, got...)
		if len(out) >= limit {
			break
		}
	}
	if finished {
		if err := s.positions.Save(ctx, consumer, pos); err != nil {
			return nil, fmt.Errorf("save positions of %s: %w", consumer, err)
		}
	}
	return out, nil
}

// shards lists the stream's shards, oldest first.
func (s *Stream) shards(ctx context.Context) ([]types.Shard, error) {
	var shards []types.Shard
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: &s.arn}
	for {
		out, err := s.client.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe stream %s: %w", s.arn, err)
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
	start := func(sh types.Shard) string {
		if sh.SequenceNumberRange == nil {
			return ""
		}
		return aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber)
	}
	slices.SortStableFunc(shards, func(a, b types.Shard) int { return compareSeq(start(a), start(b)) })
	return shards, nil
}

// readShard reads up to max records of sh after sequence number after
// ("": from the oldest). ended reports that the shard is closed and
// nothing follows.
func (s *Stream) readShard(ctx context.Context, sh types.Shard, after string, max int) (out []changes.Change, ended bool, err error) {
	id := aws.ToString(sh.ShardId)
	it := &dynamodbstreams.GetShardIteratorInput{StreamArn: &s.arn, ShardId: &id, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if after != "" {
		it.ShardIteratorType, it.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, &after
	}
	iter, err := s.client.GetShardIterator(ctx, it)
	var trimmed *types.TrimmedDataAccessException
	var gone *types.ResourceNotFoundException
	switch {
	case errors.As(err, &trimmed) && after != "": // the position fell out of retention
		it.ShardIteratorType, it.SequenceNumber = types.ShardIteratorTypeTrimHorizon, nil
		iter, err = s.client.GetShardIterator(ctx, it)
	case errors.As(err, &gone): // the shard itself was trimmed
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("shard iterator of %s: %w", id, err)
	}
	next := iter.ShardIterator
	for empty := 0; next != nil && len(out) < max && empty < 2; {
		res, err := s.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
			ShardIterator: next, Limit: aws.Int32(int32(min(max-len(out), 1000))),
		})
		if err != nil {
			return nil, false, fmt.Errorf("get records of %s: %w", id, err)
		}
		if len(res.Records) == 0 {
			empty++
		}
		for _, r := range res.Records {
			c, err := change(id, r)
			if err != nil {
				return nil, false, err
			}
			out = append(out, c)
		}
		next = res.NextShardIterator
	}
	return out, next == nil, nil
}

// Commit implements changes.Stream.
func (s *Stream) Commit(ctx context.Context, consumer, position string) error {
	shard, seq, ok := strings.Cut(position, " ")
	if !ok || shard == "" || !isSeq(seq) {
		return fmt.Errorf("%w: %q", changes.ErrBadPosition, position)
	}
	pos, err := s.positions.Load(ctx, consumer)
	if err != nil {
		return fmt.Errorf("load positions of %s: %w", consumer, err)
	}
	if pos == nil {
		pos = map[string]string{}
	}
	if cur := pos[shard]; cur == shardDone || (cur != "" && compareSeq(cur, seq) >= 0) {
		return nil
	}
	pos[shard] = seq
	if err := s.positions.Save(ctx, consumer, pos); err != nil {
		return fmt.Errorf("commit %s at %s: %w", consumer, position, err)
	}
	return nil
}

func isSeq(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// compareSeq compares decimal sequence numbers of any length.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// change converts a stream record of shard.
func change(shard string, r types.Record) (changes.Change, error) {
	d := r.Dynamodb
	if d == nil {
		return changes.Change{}, fmt.Errorf("stream record %s without its data", aws.ToString(r.EventID))
	}
	c := changes.Change{
		ID:       aws.ToString(r.EventID),
		Position: shard + " " + aws.ToString(d.SequenceNumber),
		Event:    changes.Event(r.EventName),
		Key:      table.Key{PK: stringAttr(d.Keys[table.AttrPK]), SK: stringAttr(d.Keys[table.AttrSK])},
		Time:     aws.ToTime(d.ApproximateCreationDateTime).UTC(),
		Expired: r.UserIdentity != nil && aws.ToString(r.UserIdentity.Type) == "Service" &&
			aws.ToString(r.UserIdentity.PrincipalId) == "dynamodb.amazonaws.com",
	}
	var err error
	if c.Old, err = image(d.OldImage); err != nil {
		return changes.Change{}, fmt.Errorf("old image of %s: %w", c.Key, err)
	}
	if c.New, err = image(d.NewImage); err != nil {
		return changes.Change{}, fmt.Errorf("new image of %s: %w", c.Key, err)
	}
	return c, nil
}

func stringAttr(av types.AttributeValue) string {
	if s, ok := av.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func image(item map[string]types.AttributeValue) (changes.Image, error) {
	if item == nil {
		return nil, nil
	}
	m := make(map[string]ddbtypes.AttributeValue, len(item))
	for k, v := range item {
		m[k] = attr(v)
	}
	return dynamo.Document(m)
}

// attr converts a Streams API attribute value into the DynamoDB API's
// type (the two SDK packages declare the same union twice).
func attr(av types.AttributeValue) ddbtypes.AttributeValue {
	switch av := av.(type) {
	case *types.AttributeValueMemberS:
		return &ddbtypes.AttributeValueMemberS{Value: av.Value}
	case *types.AttributeValueMemberN:
		return &ddbtypes.AttributeValueMemberN{Value: av.Value}
	case *types.AttributeValueMemberBOOL:
		return &ddbtypes.AttributeValueMemberBOOL{Value: av.Value}
	case *types.AttributeValueMemberNULL:
		return &ddbtypes.AttributeValueMemberNULL{Value: av.Value}
	case *types.AttributeValueMemberB:
		return &ddbtypes.AttributeValueMemberB{Value: av.Value}
	case *types.AttributeValueMemberSS:
		return &ddbtypes.AttributeValueMemberSS{Value: av.Value}
	case *types.AttributeValueMemberNS:
		return &ddbtypes.AttributeValueMemberNS{Value: av.Value}
	case *types.AttributeValueMemberBS:
		return &ddbtypes.AttributeValueMemberBS{Value: av.Value}
	case *types.AttributeValueMemberL:
		l := make([]ddbtypes.AttributeValue, len(av.Value))
		for i, e := range av.Value {
			l[i] = attr(e)
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}
	case *types.AttributeValueMemberM:
		m := make(map[string]ddbtypes.AttributeValue, len(av.Value))
		for k, e := range av.Value {
			m[k] = attr(e)
		}
		return &ddbtypes.AttributeValueMemberM{Value: m}
	}
	return &ddbtypes.AttributeValueMemberNULL{Value: true}
}
