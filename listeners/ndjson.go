package listeners

import (
	"encoding/json"
)

// AppendNDJSON appends ev as one line of JSON, newline included, to buf:
// the line format of the stdout and file sinks.
func AppendNDJSON(buf []byte, ev Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return buf, err
	}
	buf = append(buf, b...)
	return append(buf, '\n'), nil
}
