package whatsapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Problem is a part of a webhook body that could not be read: Path says
// where (entry[0].changes[1].value.messages[2]), Reason why. Parse reads
// everything around it.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// parseLenient reads what it can of a body whose typed decode failed: each
// entry, change, contact, message, status and error on its own, so one bad
// part costs only itself. Parts that do not decode even after coercion are
// recorded as problems.
func parseLenient(body []byte) (*Notification, error) {
	var top rawFields
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("parse webhook body: %w", err)
	}
	var r lenientReader
	n := &Notification{}
	r.field("object", top, &n.Object)
	for i, raw := range r.list("entry", top["entry"]) {
		path := fmt.Sprintf("entry[%d]", i)
		var ef rawFields
		if !r.decode(path, raw, &ef) {
			continue
		}
		e := Entry{}
		r.field(path+".id", ef, &e.ID)
		for j, raw := range r.list(path+".changes", ef["changes"]) {
			cpath := fmt.Sprintf("%s.changes[%d]", path, j)
			var cf rawFields
			if !r.decode(cpath, raw, &cf) {
				continue
			}
			c := Change{}
			r.field(cpath+".field", cf, &c.Field)
			vpath := cpath + ".value"
			var vf rawFields
			if raw := cf["value"]; len(raw) > 0 && r.decode(vpath, raw, &vf) {
				c.Value = r.value(vpath, vf)
			}
			e.Changes = append(e.Changes, c)
		}
		n.Entry = append(n.Entry, e)
	}
	n.Problems = r.problems
	return n, nil
}

func (r *lenientReader) value(path string, vf rawFields) Value {
	var v Value
	r.field(path+".messaging_product", vf, &v.MessagingProduct)
	r.field(path+".metadata", vf, &v.Metadata)
	v.Contacts = listOf[Contact](r, path+".contacts", vf["contacts"])
	v.Messages = listOf[Message](r, path+".messages", vf["messages"])
	v.Statuses = listOf[Status](r, path+".statuses", vf["statuses"])
	v.Errors = listOf[Error](r, path+".errors", vf["errors"])
	return v
}

type lenientReader struct{ problems []Problem }

func (r *lenientReader) problem(path string, err error) {
	r.problems = append(r.problems, Problem{Path: path, Reason: err.Error()})
}

// decode decodes raw into v, coercing numbers and strings where v's type
// wants the other; it records a problem and reports false when it cannot.
func (r *lenientReader) decode(path string, raw json.RawMessage, v any) bool {
	if err := decodeCoerced(raw, v); err != nil {
		r.problem(path, err)
		return false
	}
	return true
}

// field decodes key of f into v when it is present.
func (r *lenientReader) field(path string, f rawFields, v any) {
	key := path[strings.LastIndexByte(path, '.')+1:]
	if raw := f[key]; len(raw) > 0 {
		r.decode(path, raw, v)
	}
}

// list splits a JSON array into its elements; absent or null is empty.
func (r *lenientReader) list(path string, raw json.RawMessage) []json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var out []json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil {
		r.problem(path, err)
		return nil
	}
	return out
}

func listOf[T any](r *lenientReader, path string, raw json.RawMessage) []T {
	var out []T
	for i, el := range r.list(path, raw) {
		var v T
		if r.decode(fmt.Sprintf("%s[%d]", path, i), el, &v) {
			out = append(out, v)
		}
	}
	return out
}

// decodeCoerced is json.Unmarshal, retried once with the numbers, strings
// and booleans that Meta sends in the other form turned into the form v's
// type has (a timestamp as a number, a price or a flag as a string).
func decodeCoerced(raw []byte, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	if fixed, ok := coerce(raw, reflect.TypeOf(v).Elem()); ok && json.Unmarshal(fixed, v) == nil {
		return nil
	}
	return err
}

// coerce rewrites raw so that its scalars have the kinds t's fields want;
// ok is false when nothing needed rewriting.
func coerce(raw []byte, t reflect.Type) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	v, changed := coerceValue(v, t)
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func coerceValue(v any, t reflect.Type) (any, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return v, false
	}
	switch t.Kind() {
	case reflect.String:
		switch x := v.(type) {
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if n, ok := v.(json.Number); ok && t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64 {
			// 2.0 where an integer belongs
			if f, err := n.Float64(); err == nil && f == float64(int64(f)) && n.String() != strconv.FormatInt(int64(f), 10) {
				return json.Number(strconv.FormatInt(int64(f), 10)), true
			}
		}
		if s, ok := v.(string); ok {
			s = strings.TrimSpace(s)
			if s == "" {
				return nil, true
			}
			// Only a JSON number literal: ParseFloat also takes NaN, Inf and hex.
			if f, err := strconv.ParseFloat(s, 64); err == nil && isJSONNumber(s) {
				if t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64 && f == float64(int64(f)) {
					return json.Number(strconv.FormatInt(int64(f), 10)), true
				}
				return json.Number(s), true
			}
		}
	case reflect.Bool:
		switch x := v.(type) {
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, true
			}
		case json.Number:
			if b, err := strconv.ParseBool(x.String()); err == nil {
				return b, true
			}
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return v, false
		}
		changed := false
		for i := range a {
			var c bool
			a[i], c = coerceValue(a[i], t.Elem())
			changed = changed || c
		}
		return a, changed
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return v, false
		}
		changed := false
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if x, ok := m[name]; ok {
				var c bool
				m[name], c = coerceValue(x, f.Type)
				changed = changed || c
			}
		}
		return m, changed
	}
	return v, false
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}
