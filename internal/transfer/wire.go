package transfer

import (
	"bytes"
	"errors"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/value"
)

// The import encodes each document's write straight from its line into the
// protocol buffer bytes of the request (google.firestore.v1.Write), with no
// message objects on the way: on a machine where the client shares the
// CPU with the backend (the emulator), building and marshalling half a
// million small messages a minute is what slows an import down. The write
// pipeline sends the bytes as they are (see [write.API]).

// Field numbers of the messages written by hand.
const (
	wireWriteUpdate    = 1 // Write.update
	wireWritePrecond   = 4 // Write.current_document
	wireDocumentName   = 1 // Document.name
	wireDocumentFields = 2 // Document.fields
	wirePrecondExists  = 1 // Precondition.exists
)

var errNoWire = errors.New("line needs the message path")

// appendWireWrite appends the encoded Write of one import line, which has
// passed checkLineProto, to dst and returns the new dst and the document's
// path. Lines the fast path does not
// take (a path with escapes, merge mode, anything unexpected) give
// errNoWire and leave dst as it was; the caller then parses the line with
// parseLineProto, which gives the exact answer.
func appendWireWrite(dst []byte, db *DB, mode Mode, line []byte) ([]byte, string, error) {
	if mode == ModeMerge {
		return dst, "", errNoWire
	}
	var pathRaw, dataRaw []byte
	var seen [4]bool
	err := value.Members(line, func(k string, raw []byte) error {
		i := 0
		switch k {
		case "path":
			pathRaw = raw
		case "data":
			dataRaw, i = raw, 1
		case "create_time":
			i = 2
		case "update_time":
			i = 3
		default:
			return errNoWire
		}
		if seen[i] { // a repeated key: parseLineProto words the error
			return errNoWire
		}
		seen[i] = true
		return nil
	})
	if err != nil || len(pathRaw) < 2 || pathRaw[0] != '"' || bytes.IndexByte(pathRaw, '\\') >= 0 || dataRaw == nil {
		return dst, "", errNoWire
	}
	rel := string(pathRaw[1 : len(pathRaw)-1])
	if p, err := docpath.ParseRel(rel); err != nil || !p.IsDocument() {
		return dst, "", errNoWire
	}
	out := protowire.AppendTag(dst, wireWriteUpdate, protowire.BytesType)
	lenAt := len(out)
	out = append(out, 0) // the length, moved on when it takes more bytes
	start := len(out)
	out = protowire.AppendTag(out, wireDocumentName, protowire.BytesType)
	out = protowire.AppendString(out, db.full(rel))
	out, err = value.AppendFieldsProto(out, wireDocumentFields, dataRaw)
	if err != nil {
		return dst, "", errNoWire
	}
	n := len(out) - start
	if k := protowire.SizeVarint(uint64(n)); k > 1 {
		out = append(out, make([]byte, k-1)...)
		copy(out[start+k-1:], out[start:start+n])
	}
	protowire.AppendVarint(out[:lenAt], uint64(n))
	if mode == ModeCreate || mode == ModeSkipExisting {
		out = protowire.AppendTag(out, wireWritePrecond, protowire.BytesType)
		out = protowire.AppendVarint(out, 2)
		out = protowire.AppendTag(out, wirePrecondExists, protowire.VarintType)
		out = protowire.AppendVarint(out, protowire.EncodeBool(false))
	}
	return out, rel, nil
}

// wireFields decodes the fields of an encoded write (for the rare paths
// that compare data).
func wireFields(wire []byte) (map[string]*pb.Value, error) {
	var w pb.Write
	if err := proto.Unmarshal(wire, &w); err != nil {
		return nil, err
	}
	return w.GetUpdate().GetFields(), nil
}
