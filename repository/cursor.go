package repository

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/docpath"
)

// orderKey is one ordering of a query, explicit or implied by Firestore.
type orderKey struct {
	path firestore.FieldPath // [firestore.DocumentID] for the document name
	desc bool
	// implicit reports an ordering that Firestore adds on its own and that
	// the query does not state.
	implicit bool
}

func (o orderKey) isName() bool { return len(o.path) == 1 && o.path[0] == firestore.DocumentID }

// effectiveOrders returns the full ordering Firestore applies to sq: its
// OrderBy clauses, then, as the server does, the inequality fields when
// there is no OrderBy, and the document name last (in the direction of the
// last OrderBy).
func effectiveOrders(sq *pb.StructuredQuery) ([]orderKey, error) {
	var orders []orderKey
	byName := false
	for _, o := range sq.GetOrderBy() {
		fp, err := parseFieldRef(o.GetField().GetFieldPath())
		if err != nil {
			return nil, err
		}
		k := orderKey{path: fp, desc: o.GetDirection() == pb.StructuredQuery_DESCENDING}
		byName = byName || k.isName()
		orders = append(orders, k)
	}
	if byName {
		return orders, nil
	}
	if len(orders) > 0 {
		return append(orders, orderKey{path: firestore.FieldPath{firestore.DocumentID}, desc: orders[len(orders)-1].desc, implicit: true}), nil
	}
	ineq, err := inequalityFields(sq.GetWhere())
	if err != nil {
		return nil, err
	}
	for _, fp := range ineq {
		if len(fp) == 1 && fp[0] == firestore.DocumentID {
			continue // the name comes last anyway
		}
		orders = append(orders, orderKey{path: fp, implicit: true})
	}
	return append(orders, orderKey{path: firestore.FieldPath{firestore.DocumentID}, implicit: true}), nil
}

// inequalityFields returns the fields that f filters with an inequality,
// sorted, without duplicates.
func inequalityFields(f *pb.StructuredQuery_Filter) ([]firestore.FieldPath, error) {
	var out []firestore.FieldPath
	var walk func(f *pb.StructuredQuery_Filter) error
	walk = func(f *pb.StructuredQuery_Filter) error {
		if f == nil {
			return nil
		}
		var ref string
		switch {
		case f.GetCompositeFilter() != nil:
			for _, sub := range f.GetCompositeFilter().GetFilters() {
				if err := walk(sub); err != nil {
					return err
				}
			}
			return nil
		case f.GetFieldFilter() != nil:
			switch f.GetFieldFilter().GetOp() {
			case pb.StructuredQuery_FieldFilter_LESS_THAN, pb.StructuredQuery_FieldFilter_LESS_THAN_OR_EQUAL,
				pb.StructuredQuery_FieldFilter_GREATER_THAN, pb.StructuredQuery_FieldFilter_GREATER_THAN_OR_EQUAL,
				pb.StructuredQuery_FieldFilter_NOT_EQUAL, pb.StructuredQuery_FieldFilter_NOT_IN:
				ref = f.GetFieldFilter().GetField().GetFieldPath()
			}
		case f.GetUnaryFilter() != nil:
			switch f.GetUnaryFilter().GetOp() {
			case pb.StructuredQuery_UnaryFilter_IS_NOT_NAN, pb.StructuredQuery_UnaryFilter_IS_NOT_NULL:
				ref = f.GetUnaryFilter().GetField().GetFieldPath()
			}
		}
		if ref == "" {
			return nil
		}
		fp, err := parseFieldRef(ref)
		if err != nil {
			return err
		}
		out = append(out, fp)
		return nil
	}
	if err := walk(f); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b firestore.FieldPath) int { return slices.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b firestore.FieldPath) bool { return slices.Equal(a, b) }), nil
}

// parseFieldRef parses a field path as Firestore writes it on the wire:
// segments separated by dots, each a simple name or a backquoted one with
// \` and \\ escapes ("a.b", "`x.y`.z").
func parseFieldRef(s string) (firestore.FieldPath, error) {
	var fp firestore.FieldPath
	for i := 0; i < len(s); {
		var seg strings.Builder
		if s[i] == '`' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					seg.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '`' {
					closed = true
					i++
					break
				}
				seg.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted segment in field path %q", s)
			}
		} else {
			j := strings.IndexByte(s[i:], '.')
			if j < 0 {
				j = len(s) - i
			}
			seg.WriteString(s[i : i+j])
			i += j
		}
		if seg.Len() == 0 {
			return nil, fmt.Errorf("empty segment in field path %q", s)
		}
		fp = append(fp, seg.String())
		if i < len(s) {
			if s[i] != '.' {
				return nil, fmt.Errorf("malformed field path %q", s)
			}
			i++
			if i == len(s) {
				return nil, fmt.Errorf("field path %q ends with a dot", s)
			}
		}
	}
	if len(fp) == 0 {
		return nil, errors.New("empty field path")
	}
	return fp, nil
}

// withOrderFieldsSelected makes sure that a query with a projection also
// reads the fields it is ordered by, so that a cursor can be built from
// any of its documents. Queries without a projection are returned as is.
func withOrderFieldsSelected(q firestore.Query) (firestore.Query, error) {
	sq, err := structured(q)
	if err != nil {
		return q, err
	}
	sel := sq.GetSelect().GetFields()
	if len(sel) == 0 {
		return q, nil
	}
	orders, err := effectiveOrders(sq)
	if err != nil {
		return q, err
	}
	var fps []firestore.FieldPath
	for _, f := range sel {
		fp, err := parseFieldRef(f.GetFieldPath())
		if err != nil {
			return q, err
		}
		fps = append(fps, fp)
	}
	added := false
	for _, o := range orders {
		if o.isName() || slices.ContainsFunc(fps, func(fp firestore.FieldPath) bool { return slices.Equal(fp, o.path) }) {
			continue
		}
		fps = append(fps, o.path)
		added = true
	}
	if !added {
		return q, nil
	}
	return q.SelectPaths(fps...), nil
}

// pageToken is the decoded form of a page token.
type pageToken struct {
	V int               `json:"v"`           // format version
	Q string            `json:"q"`           // hash of the query the token belongs to
	N int               `json:"n"`           // documents returned by the earlier pages
	C []json.RawMessage `json:"c,omitempty"` // cursor: the last document's order-by values
}

const tokenVersion = 1

// queryHash identifies a query (its wire form, including the project and
// database), so that a token can be checked against the query it is used
// with.
func queryHash(q firestore.Query) (string, error) {
	b, err := q.Serialize()
	if err != nil {
		return "", err
	}
	var req pb.RunQueryRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return "", err
	}
	det, err := proto.MarshalOptions{Deterministic: true}.Marshal(&req)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(det)
	return base64.RawURLEncoding.EncodeToString(sum[:16]), nil
}

// explicitOrders returns q with every ordering of orders stated, so that a
// cursor of len(orders) values applies to it.
func explicitOrders(q firestore.Query, orders []orderKey) firestore.Query {
	for _, o := range orders {
		if o.implicit {
			dir := firestore.Asc
			if o.desc {
				dir = firestore.Desc
			}
			q = q.OrderByPath(o.path, dir)
		}
	}
	return q
}

// cursorValues returns the wire values of s at each ordering of ordered (a
// query whose orderings are all explicit), as compact protobuf JSON, which
// represents every Firestore value type losslessly.
func cursorValues(ordered firestore.Query, orders []orderKey, s *firestore.DocumentSnapshot) ([]json.RawMessage, error) {
	vals := make([]any, len(orders))
	for i, o := range orders {
		if o.isName() {
			vals[i] = s.Ref
			continue
		}
		v, err := s.DataAtPath(o.path)
		if err != nil {
			return nil, fmt.Errorf("order-by field %v of %s: %w", o.path, docpath.Rel(s.Ref.Path), err)
		}
		vals[i] = v
	}
	// Let the SDK encode the values exactly as it does cursors.
	sq, err := structured(ordered.StartAfter(vals...))
	if err != nil {
		return nil, err
	}
	pvs := sq.GetStartAt().GetValues()
	if len(pvs) != len(orders) {
		return nil, fmt.Errorf("cursor has %d values for %d orderings", len(pvs), len(orders))
	}
	out := make([]json.RawMessage, len(pvs))
	for i, pv := range pvs {
		b, err := protojson.Marshal(pv)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, err
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

func encodeToken(t pageToken) (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, errors.New("not a page token (bad encoding)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, errors.New("not a page token (bad content)")
	}
	if t.V != tokenVersion {
		return t, fmt.Errorf("page token version %d not supported (want %d)", t.V, tokenVersion)
	}
	if t.N < 0 {
		return t, errors.New("not a page token (negative count)")
	}
	return t, nil
}

// goValues turns a token's wire values back into Go values that the SDK
// encodes to the same wire values.
func goValues(c *firestore.Client, raw []json.RawMessage) ([]any, error) {
	out := make([]any, len(raw))
	for i, r := range raw {
		var pv pb.Value
		if err := protojson.Unmarshal(r, &pv); err != nil {
			return nil, fmt.Errorf("cursor value %d: %w", i, err)
		}
		v, err := fromProto(c, &pv)
		if err != nil {
			return nil, fmt.Errorf("cursor value %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

func fromProto(c *firestore.Client, pv *pb.Value) (any, error) {
	switch v := pv.GetValueType().(type) {
	case *pb.Value_NullValue:
		return nil, nil
	case *pb.Value_BooleanValue:
		return v.BooleanValue, nil
	case *pb.Value_IntegerValue:
		return v.IntegerValue, nil
	case *pb.Value_DoubleValue:
		return v.DoubleValue, nil
	case *pb.Value_TimestampValue:
		return v.TimestampValue, nil // *timestamppb.Timestamp, encoded as is
	case *pb.Value_StringValue:
		return v.StringValue, nil
	case *pb.Value_BytesValue:
		return v.BytesValue, nil
	case *pb.Value_GeoPointValue:
		if v.GeoPointValue == nil {
			return (*latlng.LatLng)(nil), nil
		}
		return v.GeoPointValue, nil
	case *pb.Value_ReferenceValue:
		return docRef(c, v.ReferenceValue)
	case *pb.Value_ArrayValue:
		vals := v.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			g, err := fromProto(c, e)
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	case *pb.Value_MapValue:
		// Maps, including the SDK's vector and BSON encodings, are kept as
		// plain maps: the SDK writes those back field for field.
		out := make(map[string]any, len(v.MapValue.GetFields()))
		for k, e := range v.MapValue.GetFields() {
			g, err := fromProto(c, e)
			if err != nil {
				return nil, err
			}
			out[k] = g
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported value type %T", v)
	}
}

// docRef returns a reference for a full document name.
func docRef(c *firestore.Client, name string) (*firestore.DocumentRef, error) {
	_, _, rel, ok := docpath.SplitName(name)
	p := docpath.FromFirestore(rel)
	if !ok || !p.IsDocument() {
		return nil, fmt.Errorf("not a document name: %q", name)
	}
	if ref := c.Doc(p.String()); ref != nil && ref.Path == name {
		return ref, nil
	}
	// A document of another database: the SDK encodes a reference by its
	// Path alone.
	return &firestore.DocumentRef{Path: name, ID: p.ID()}, nil
}
