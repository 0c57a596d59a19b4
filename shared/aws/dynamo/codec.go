package dynamo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Items cross DynamoDB as encoding/json sees them: a struct is marshalled
// with encoding/json and the resulting object becomes the item's top-level
// attributes (objects M, arrays L, strings S, numbers N, booleans BOOL,
// null NULL); reading reverses the mapping and unmarshals with
// encoding/json. So `json` tags, embedded structs, omitempty/omitzero,
// json.Marshaler and time.Time behave exactly as in the local store (which
// stores the same JSON), and the contract suite cannot see a difference.
// attributevalue with TagKey "json" came close but differs: it keeps empty
// non-nil slices and maps under omitempty, ignores json.Marshaler, omitzero
// and ",string", and writes []byte as B where JSON has a base64 string.

// marshalItem encodes an item struct as a DynamoDB item.
func marshalItem(item any) (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(item)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, fmt.Errorf("%T does not encode as a JSON object", item)
	}
	av := make(map[string]types.AttributeValue, len(fields))
	for name, v := range fields {
		av[name] = toAttr(v)
	}
	return av, nil
}

func toAttr(v any) types.AttributeValue {
	switch v := v.(type) {
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}
	case bool:
		return &types.AttributeValueMemberBOOL{Value: v}
	case json.Number:
		return &types.AttributeValueMemberN{Value: v.String()}
	case string:
		return &types.AttributeValueMemberS{Value: v}
	case []any:
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			l[i] = toAttr(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case map[string]any:
		m := make(map[string]types.AttributeValue, len(v))
		for k, e := range v {
			m[k] = toAttr(e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
	panic(fmt.Sprintf("dynamo: unexpected JSON value %T", v)) // json.Decoder yields only the cases above
}

// unmarshalItem decodes a DynamoDB item into out, a pointer.
func unmarshalItem(item map[string]types.AttributeValue, out any) error {
	doc, err := Document(item)
	if err != nil {
		return err
	}
	return json.Unmarshal(doc, out)
}

// fromAttr maps an attribute to the value encoding/json writes back as the
// JSON it came from. Sets and binaries, which this adapter never writes,
// become arrays and base64 strings, as encoding/json writes []T and []byte.
func fromAttr(av types.AttributeValue) any {
	switch av := av.(type) {
	case *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberBOOL:
		return av.Value
	case *types.AttributeValueMemberN:
		return json.Number(av.Value)
	case *types.AttributeValueMemberS:
		return av.Value
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(av.Value)
	case *types.AttributeValueMemberL:
		l := make([]any, len(av.Value))
		for i, e := range av.Value {
			l[i] = fromAttr(e)
		}
		return l
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(av.Value))
		for k, e := range av.Value {
			m[k] = fromAttr(e)
		}
		return m
	case *types.AttributeValueMemberSS:
		return av.Value
	case *types.AttributeValueMemberNS:
		l := make([]json.Number, len(av.Value))
		for i, n := range av.Value {
			l[i] = json.Number(n)
		}
		return l
	case *types.AttributeValueMemberBS:
		return av.Value // [][]byte: base64 strings
	}
	return nil
}

// decodeElem decodes item into a new value of typ (a struct or a pointer
// to one), for appending to a Query's out slice.
func decodeElem(item map[string]types.AttributeValue, typ reflect.Type) (reflect.Value, error) {
	if typ.Kind() == reflect.Pointer {
		v := reflect.New(typ.Elem())
		return v, unmarshalItem(item, v.Interface())
	}
	v := reflect.New(typ)
	return v.Elem(), unmarshalItem(item, v.Interface())
}

// Document returns an item read from anywhere else (a stream record, a
// Lambda event) as the JSON object the table port stores and decodes: the
// same bytes the bolt store keeps, so both change streams hand consumers
// identical images.
func Document(item map[string]types.AttributeValue) ([]byte, error) {
	return json.Marshal(fromAttr(&types.AttributeValueMemberM{Value: item}))
}
