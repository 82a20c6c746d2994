package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunStdio serves one client over stdin and stdout until the client
// disconnects or ctx ends.
func (s *Server) RunStdio(ctx context.Context) error {
	return s.runIO(ctx, os.Stdin, os.Stdout)
}

func (s *Server) runIO(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	w := &lockedWriter{w: out}
	r := &jsonLines{r: bufio.NewReaderSize(in, 64<<10), in: in, out: w, log: s}
	err := s.sdk.Run(ctx, &sdk.IOTransport{Reader: r, Writer: w})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// lockedWriter serialises the transport's messages and the parse errors
// the reader answers itself.
type lockedWriter struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return l.w.Close() }

// jsonLines passes the well-formed JSON lines of the client's input to the
// transport and answers every other line with a JSON-RPC parse error
// (-32700), as the specification asks: the SDK's own reader gives up on
// the whole connection at the first line that is not JSON.
type jsonLines struct {
	r   *bufio.Reader
	in  io.Closer
	out *lockedWriter
	log *Server
	buf []byte
	err error
}

const parseError = `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: the line is not valid JSON"}}` + "\n"

func (j *jsonLines) Read(p []byte) (int, error) {
	for len(j.buf) == 0 {
		if j.err != nil {
			return 0, j.err
		}
		line, err := j.r.ReadBytes('\n')
		j.err = err
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !json.Valid(line) {
			j.log.log.Info("refused", "transport", "stdio", "reason", "a line that is not JSON")
			j.out.Write([]byte(parseError))
			continue
		}
		if reply := invalidRequest(line); reply != nil {
			j.log.log.Info("refused", "transport", "stdio", "reason", "not a JSON-RPC 2.0 message")
			j.out.Write(reply)
			continue
		}
		j.buf = line
	}
	n := copy(p, j.buf)
	j.buf = j.buf[n:]
	return n, nil
}

func (j *jsonLines) Close() error { return j.in.Close() }

// invalidRequest returns the JSON-RPC error (-32600) for a JSON line that
// is not a JSON-RPC 2.0 message (a request, a notification or a
// response), or nil for one that is.
func invalidRequest(line []byte) []byte {
	var m struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  *string         `json:"method"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	err := json.Unmarshal(line, &m)
	if err == nil && m.JSONRPC == "2.0" && (m.Method != nil || (m.ID != nil && (m.Result != nil || m.Error != nil))) {
		return nil
	}
	id := "null"
	if err == nil && len(m.ID) > 0 && (m.ID[0] == '"' || (m.ID[0] >= '0' && m.ID[0] <= '9') || m.ID[0] == '-') {
		id = string(m.ID)
	}
	return []byte(`{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32600,"message":"invalid request: not a JSON-RPC 2.0 request, notification or response"}}` + "\n")
}
