package value

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// PathError is the error returned by every function of this package. It
// names where in the value the problem is and what it is, and unwraps to
// [errs.ErrInvalid], so errors.Is(err, errs.ErrInvalid) holds.
type PathError struct {
	// Path is the JSON path of the offending value: "$" for the whole
	// value, "$.a.b[2]" for element 2 of field b of field a, and
	// `$["weird key"]` for keys that are not plain identifiers (keys that
	// start with "$" included, so `$.m["$map"]` is the inner object of an
	// escaped map).
	Path string
	// Offset is the byte offset in the input where decoding stopped, or -1
	// for an encoding error.
	Offset int
	// Msg says what is wrong, without the path.
	Msg string

	// segs holds path segments in reverse order while the error travels up
	// the call stack; finish turns them into Path. Building the path only
	// on the error path keeps the success path free of bookkeeping.
	segs []string
}

func (e *PathError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap classifies every codec error as invalid input.
func (e *PathError) Unwrap() error { return errs.ErrInvalid }

// newErr starts an error at the current value; containers add their
// segments as it propagates (see atKey and atIndex).
func newErr(offset int, msg string) *PathError {
	return &PathError{Offset: offset, Msg: msg}
}

// atKey records that err happened under object key k.
func atKey(err error, k string) error {
	if pe, ok := err.(*PathError); ok {
		pe.segs = append(pe.segs, keySegment(k))
	}
	return err
}

// atIndex records that err happened at array index i.
func atIndex(err error, i int) error {
	if pe, ok := err.(*PathError); ok {
		pe.segs = append(pe.segs, "["+strconv.Itoa(i)+"]")
	}
	return err
}

// finish turns the collected segments into Path. It is called once, by the
// exported entry points.
func finish(err error) error {
	pe, ok := err.(*PathError)
	if !ok {
		return err
	}
	var b strings.Builder
	b.WriteByte('$')
	for i := len(pe.segs) - 1; i >= 0; i-- {
		b.WriteString(pe.segs[i])
	}
	pe.Path = b.String()
	pe.segs = nil
	return pe
}

// keySegment renders one object key as a path segment: ".name" for
// identifier-like keys, `["other key"]` (JSON-quoted) for the rest.
func keySegment(k string) string {
	if isIdent(k) {
		return "." + k
	}
	b := make([]byte, 0, len(k)+4)
	b = append(b, '[')
	b = appendQuoted(b, strings.ToValidUTF8(k, "\uFFFD"))
	return string(append(b, ']'))
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// snippet renders a piece of input JSON for an error message: whitespace
// outside strings removed, cut at about 60 bytes.
func snippet(raw []byte) string {
	const limit = 60
	out := make([]byte, 0, min(len(raw), limit+8))
	inStr, esc := false, false
	for _, c := range raw {
		if len(out) >= limit {
			for len(out) > 0 && !utf8.Valid(out) {
				out = out[:len(out)-1]
			}
			return string(out) + "..."
		}
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		out = append(out, c)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}
