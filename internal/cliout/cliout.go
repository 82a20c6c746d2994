// Package cliout renders fbadmin's command output: data on stdout as JSON,
// NDJSON, a table or YAML, and progress of long jobs on stderr.
//
// # Formats
//
// [Printer] writes either one result ([Printer.One]) or a list of results
// ([Printer.Item], then [Printer.Close]). Records are any values that
// marshal to JSON objects; JSON lists stream as an array, NDJSON as one
// object per line, YAML as a sequence, and tables buffer their rows to size
// the columns (a record's "data" object is spread into columns).
//
// # Progress
//
// [Progress] shows a bar with rate and ETA on a terminal and writes a log
// line every few seconds otherwise; [Summary] formats a job's closing line.
package cliout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
)

// Format is an output format.
type Format string

// The output formats.
const (
	JSON   Format = "json"
	NDJSON Format = "ndjson"
	Table  Format = "table"
	YAML   Format = "yaml"
)

// ParseFormat parses a format name; "" means table on a terminal and JSON
// otherwise.
func ParseFormat(s string, terminal bool) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case JSON, NDJSON, Table, YAML:
		return f, nil
	case "":
		if terminal {
			return Table, nil
		}
		return JSON, nil
	}
	return "", fmt.Errorf("unknown output format %q: use json, ndjson, table or yaml", s)
}

// Printer writes results in one format. It is not safe for concurrent use.
type Printer struct {
	w     io.Writer
	f     Format
	n     int
	rows  []row
	Empty string // printed by Close for an empty table ("" for none)
}

// NewPrinter returns a printer writing to w.
func NewPrinter(w io.Writer, f Format) *Printer { return &Printer{w: w, f: f} }

// Format returns the printer's format.
func (p *Printer) Format() Format { return p.f }

func marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return x, nil
	case []byte:
		return x, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// One prints a single result: an object (JSON is indented), one NDJSON
// line, a two-column table of its fields, or a YAML document.
func (p *Printer) One(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	switch p.f {
	case JSON:
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err = p.w.Write(out.Bytes())
		return err
	case NDJSON:
		_, err = p.w.Write(append(b, '\n'))
		return err
	case YAML:
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = p.w.Write(y)
		return err
	}
	r, err := flatten(b)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for i, k := range r.keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, cell(r.vals[i], 0))
	}
	return tw.Flush()
}

// Item prints one result of a list.
func (p *Printer) Item(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	defer func() { p.n++ }()
	switch p.f {
	case JSON:
		sep := ",\n  "
		if p.n == 0 {
			sep = "[\n  "
		}
		var out bytes.Buffer
		out.WriteString(sep)
		if err := json.Indent(&out, b, "  ", "  "); err != nil {
			return err
		}
		_, err = p.w.Write(out.Bytes())
		return err
	case NDJSON:
		_, err = p.w.Write(append(b, '\n'))
		return err
	case YAML:
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSuffix(string(y), "\n"), "\n")
		var out strings.Builder
		for i, l := range lines {
			if i == 0 {
				out.WriteString("- " + l + "\n")
			} else {
				out.WriteString("  " + l + "\n")
			}
		}
		_, err = io.WriteString(p.w, out.String())
		return err
	}
	r, err := flatten(b)
	if err != nil {
		return err
	}
	p.rows = append(p.rows, r)
	return nil
}

// Close ends a list: closes the JSON array (an empty list prints []) and
// prints the buffered table.
func (p *Printer) Close() error {
	switch p.f {
	case JSON:
		if p.n == 0 {
			_, err := io.WriteString(p.w, "[]\n")
			return err
		}
		_, err := io.WriteString(p.w, "\n]\n")
		return err
	case YAML:
		if p.n == 0 {
			_, err := io.WriteString(p.w, "[]\n")
			return err
		}
	case Table:
		return p.flushTable()
	}
	return nil
}

func (p *Printer) flushTable() error {
	if len(p.rows) == 0 {
		if p.Empty != "" {
			_, err := fmt.Fprintln(p.w, p.Empty)
			return err
		}
		return nil
	}
	var cols []string
	seen := map[string]bool{}
	for _, r := range p.rows {
		for _, k := range r.keys {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for i, c := range cols {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, c)
	}
	io.WriteString(tw, "\n")
	for _, r := range p.rows {
		for i, c := range cols {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			if v, ok := r.get(c); ok {
				io.WriteString(tw, cell(v, 48))
			}
		}
		io.WriteString(tw, "\n")
	}
	p.rows = nil
	return tw.Flush()
}

// row is a record flattened for a table: its keys in order, with the
// fields of a "data" object spread into their own columns.
type row struct {
	keys []string
	vals []json.RawMessage
}

func (r row) get(k string) (json.RawMessage, bool) {
	for i, key := range r.keys {
		if key == k {
			return r.vals[i], true
		}
	}
	return nil, false
}

func flatten(b []byte) (row, error) {
	var r row
	keys, vals, err := objectFields(b)
	if err != nil {
		// Not an object: one column.
		return row{keys: []string{"value"}, vals: []json.RawMessage{b}}, nil
	}
	for i, k := range keys {
		if k == "data" {
			if dk, dv, err := objectFields(vals[i]); err == nil {
				r.keys = append(r.keys, dk...)
				r.vals = append(r.vals, dv...)
				continue
			}
		}
		r.keys = append(r.keys, k)
		r.vals = append(r.vals, vals[i])
	}
	return r, nil
}

// objectFields returns the keys and raw values of a JSON object, in order.
func objectFields(b []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object")
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		vals = append(vals, v)
	}
	return keys, vals, nil
}

// cell renders a value for a table: strings bare, the scalar typed forms of
// the lossless format ({"$int":"5"}, {"$timestamp":"..."}) by their inner
// value, others as compact JSON, cut to width runes when width > 0.
func cell(v json.RawMessage, width int) string {
	var s string
	if keys, vals, err := objectFields(v); err == nil && len(keys) == 1 && strings.HasPrefix(keys[0], "$") {
		switch keys[0] {
		case "$int", "$double", "$timestamp", "$ref", "$bytes":
			v = vals[0]
		}
	}
	if err := json.Unmarshal(v, &s); err != nil {
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			s = buf.String()
		} else {
			s = string(v)
		}
	}
	s = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
	if width > 0 && utf8.RuneCountInString(s) > width {
		rs := []rune(s)
		s = string(rs[:width-1]) + "…"
	}
	return s
}
