package cliout

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

type rec struct {
	Path string          `json:"path"`
	Data json.RawMessage `json:"data"`
}

func TestFormats(t *testing.T) {
	items := []rec{
		{"users/a", json.RawMessage(`{"age":{"$int":"30"},"name":"Ann"}`)},
		{"users/b", json.RawMessage(`{"name":"Bob","tags":["x","y"],"bio":"line1\nline2"}`)},
	}
	cases := []struct {
		f    Format
		want string
	}{
		{JSON, "[\n  {\n    \"path\": \"users/a\",\n    \"data\": {\n      \"age\": {\n        \"$int\": \"30\"\n      },\n      \"name\": \"Ann\"\n    }\n  },\n  {\n    \"path\": \"users/b\",\n    \"data\": {\n      \"name\": \"Bob\",\n      \"tags\": [\n        \"x\",\n        \"y\"\n      ],\n      \"bio\": \"line1\\nline2\"\n    }\n  }\n]\n"},
		{NDJSON, `{"path":"users/a","data":{"age":{"$int":"30"},"name":"Ann"}}` + "\n" + `{"path":"users/b","data":{"name":"Bob","tags":["x","y"],"bio":"line1\nline2"}}` + "\n"},
		{Table, "path     age  name  tags       bio\nusers/a  30   Ann              \nusers/b       Bob   [\"x\",\"y\"]  line1\\nline2\n"},
		{YAML, "- path: users/a\n  data:\n    age:\n      $int: \"30\"\n    name: Ann\n- path: users/b\n  data:\n    name: Bob\n    tags:\n    - x\n    - \"y\"\n    bio: |-\n      line1\n      line2\n"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		p := NewPrinter(&buf, c.f)
		for _, it := range items {
			if err := p.Item(it); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.f, buf.String(), c.want)
		}
	}
}

func TestEmptyLists(t *testing.T) {
	for f, want := range map[Format]string{JSON: "[]\n", NDJSON: "", YAML: "[]\n", Table: "(none)\n"} {
		var buf bytes.Buffer
		p := NewPrinter(&buf, f)
		p.Empty = "(none)"
		p.Close()
		if buf.String() != want {
			t.Errorf("%s: got %q, want %q", f, buf.String(), want)
		}
	}
}

func TestOne(t *testing.T) {
	var buf bytes.Buffer
	NewPrinter(&buf, Table).One(rec{"users/a", json.RawMessage(`{"when":{"$timestamp":"2024-01-01T00:00:00Z"}}`)})
	if want := "path  users/a\nwhen  2024-01-01T00:00:00Z\n"; buf.String() != want {
		t.Errorf("table One: got %q, want %q", buf.String(), want)
	}
}

func TestParseFormat(t *testing.T) {
	if f, _ := ParseFormat("", true); f != Table {
		t.Errorf("default on a terminal: %s, want table", f)
	}
	if f, _ := ParseFormat("", false); f != JSON {
		t.Errorf("default elsewhere: %s, want json", f)
	}
	if _, err := ParseFormat("xml", false); err == nil || !strings.Contains(err.Error(), "json, ndjson, table or yaml") {
		t.Errorf("xml: %v", err)
	}
}

func TestProgressLogLines(t *testing.T) {
	var buf syncBuffer
	p := NewProgress(&buf, ProgressOptions{Label: "import", Interval: 20 * time.Millisecond})
	if p.WantsTotal() {
		t.Error("log lines want no total")
	}
	p.SetTotal(100)
	p.Add(40, 4000)
	time.Sleep(70 * time.Millisecond)
	p.Finish()
	out := buf.String()
	if !strings.Contains(out, "import: 40/100 docs (40%), ") || !strings.Contains(out, "4.0 kB") {
		t.Errorf("log lines: %q", out)
	}
	var quiet syncBuffer
	q := NewProgress(&quiet, ProgressOptions{Label: "x", Quiet: true, Interval: time.Millisecond})
	q.Add(1, 1)
	time.Sleep(5 * time.Millisecond)
	q.Finish()
	if quiet.String() != "" {
		t.Errorf("quiet progress wrote %q", quiet.String())
	}
}

func TestSummaryAndBytes(t *testing.T) {
	got := Summary("import", "written", 20000, 3, 1, 3_100_000, 2*time.Second)
	if want := "import: 20000 docs written, 3 skipped, 1 failed, 3.1 MB in 2.00 s (10002 docs/s)"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	for n, want := range map[int64]string{512: "512 B", 1500: "1.5 kB", 2_500_000_000: "2.50 GB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %s, want %s", n, got, want)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
