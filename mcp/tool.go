package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/server"
)

// call is one tool call as a handler sees it: who calls, and what the log
// line says about it (never values or tokens).
type call struct {
	caller *server.Caller // nil over stdio
	tool   string
	target string // paths, collection or UID
	docs   int    // documents read or written
}

// schemaOptions generate the schemas: values in the value format are raw
// JSON (any JSON value), times are RFC 3339 strings.
var schemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[json.RawMessage](): {Description: "a value in fbadmin's value format"},
	reflect.TypeFor[time.Time]():       {Type: "string", Format: "date-time"},
}}

// inputCheck is implemented by inputs with rules a schema does not say.
type inputCheck interface{ check() error }

// addTool registers a tool whose input and output schemas are generated
// from In and Out. Arguments are decoded strictly from the raw request, so
// values in the value format arrive byte for byte (no float64 on the way);
// a bad argument is a tool error naming its JSON path. The handler's
// output becomes the structured content (and its JSON the text content).
func addTool[In, Out any](s *Server, t *sdk.Tool, h func(ctx context.Context, c *call, in *In) (Out, error)) {
	in, err := jsonschema.For[In](schemaOptions)
	if err != nil {
		panic(fmt.Sprintf("tool %s: input schema: %v", t.Name, err))
	}
	out, err := jsonschema.For[Out](schemaOptions)
	if err != nil {
		panic(fmt.Sprintf("tool %s: output schema: %v", t.Name, err))
	}
	resolved, err := in.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("tool %s: input schema: %v", t.Name, err))
	}
	t.InputSchema, t.OutputSchema = in, out
	s.tools++
	s.sdk.AddTool(t, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		start := time.Now()
		c := &call{caller: callerOf(req.Extra), tool: t.Name}
		res, err := runTool(req.Params.Arguments, resolved, func(args *In) (any, error) { return h(ctx, c, args) })
		outcome := "ok"
		if err != nil {
			outcome = kindName(err)
		}
		attrs := []any{"tool", t.Name, "outcome", outcome, "ms", time.Since(start).Milliseconds()}
		if c.target != "" {
			attrs = append(attrs, "target", c.target)
		}
		if c.docs > 0 {
			attrs = append(attrs, "docs", c.docs)
		}
		if c.caller != nil {
			attrs = append(attrs, "uid", c.caller.UID)
		}
		s.log.Info("call", attrs...)
		if err != nil {
			return errorResult(err), nil
		}
		return res, nil
	})
}

// runTool decodes and checks the arguments, calls h and renders its output.
func runTool[In any](raw json.RawMessage, resolved *jsonschema.Resolved, h func(*In) (any, error)) (*sdk.CallToolResult, error) {
	args, err := decodeArgs[In](raw, resolved)
	if err != nil {
		return nil, err
	}
	out, err := h(args)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, errs.New(errs.ErrInternal, "encode", "result", "%v", err)
	}
	return &sdk.CallToolResult{StructuredContent: json.RawMessage(b), Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}, nil
}

// decodeArgs checks the arguments against the input schema, then decodes
// them strictly into In.
func decodeArgs[In any](raw json.RawMessage, resolved *jsonschema.Resolved) (*In, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "not valid JSON: %v", err)
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "the arguments must be a JSON object")
	}
	if err := resolved.Validate(generic); err != nil {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s", schemaMessage(err))
	}
	in := new(In)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s", decodeMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "trailing data after the arguments object")
	}
	if c, ok := any(in).(inputCheck); ok {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// schemaMessage shortens a validation error to one line.
func schemaMessage(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	msg = strings.TrimPrefix(msg, "validating root: ")
	return msg
}

// decodeMessage names the JSON path of a decoding error.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("$.%s: want %s, got a JSON %s", te.Field, jsonKind(te.Type), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Sprintf("$.%s: unknown argument", strings.Trim(f, `"`))
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

// errorResult is a tool error as the agent reads it: the kind, then the
// message (which names what was wrong and, where it can, how to fix it).
func errorResult(err error) *sdk.CallToolResult {
	r := &sdk.CallToolResult{IsError: true}
	r.Content = []sdk.Content{&sdk.TextContent{Text: kindName(err) + ": " + err.Error()}}
	return r
}

// kindName names an error's kind for logs and messages.
func kindName(err error) string {
	switch errs.KindOf(err) {
	case errs.ErrNotFound:
		return "not_found"
	case errs.ErrAlreadyExists:
		return "already_exists"
	case errs.ErrConflict:
		return "conflict"
	case errs.ErrInvalid:
		return "invalid"
	case errs.ErrUnauthenticated:
		return "unauthenticated"
	case errs.ErrPermission:
		return "permission_denied"
	case errs.ErrUnavailable:
		return "unavailable"
	case errs.ErrCanceled:
		return "canceled"
	case errs.ErrResourceLimit:
		return "limit"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline"
	}
	return "error"
}
