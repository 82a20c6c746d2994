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

func TestSummaryCounts(t *testing.T) {
	cases := map[string]string{
		Summary("import", "written", 1, 0, 0, 0, time.Second):          "import: 1 doc written, 0 failed in 1.00 s (1 doc/s)",
		Summary("export", "exported", 0, 0, 0, 0, 20*time.Millisecond): "export: 0 docs exported, 0 failed in 0.02 s",
		Summary("delete", "deleted", 2, 0, 0, 0, time.Second):          "delete: 2 docs deleted, 0 failed in 1.00 s (2 docs/s)",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("Summary = %q, want %q", got, want)
		}
	}
}

// A rate shows only once there is one: no "0 docs/s" (log lines) or
// "0 docs/hr" (the bar) at the start of a job.
func TestProgressRateOnlyOnceThereIsOne(t *testing.T) {
	var logw syncBuffer
	p := NewProgress(&logw, ProgressOptions{Label: "import", Interval: 5 * time.Millisecond})
	time.Sleep(30 * time.Millisecond)
	if s := logw.String(); !strings.Contains(s, "import: 0 docs\n") || strings.Contains(s, "/s") {
		t.Errorf("log lines before any document: %q, want \"import: 0 docs\" without a rate", s)
	}
	p.Add(1, 0)
	time.Sleep(30 * time.Millisecond)
	p.Finish()
	if s := logw.String(); !strings.Contains(s, "import: 1 doc, ") || !strings.Contains(s, "/s") {
		t.Errorf("log lines after a document: %q, want \"import: 1 doc, N docs/s\"", s)
	}

	var bar syncBuffer
	b := NewProgress(&bar, ProgressOptions{Label: "import", Terminal: true})
	b.SetTotal(100)
	time.Sleep(250 * time.Millisecond)
	b.Add(0, 0)
	if s := bar.String(); strings.Contains(s, "/hr") || strings.Contains(s, "/min") || strings.Contains(s, "/s") {
		t.Errorf("bar before any document: %q, want no rate", s)
	}
	b.Add(50, 0)
	time.Sleep(150 * time.Millisecond) // the bar redraws every 100 ms at most
	b.Add(1, 0)
	b.Finish()
	if s := bar.String(); !strings.Contains(s, "docs/s") {
		t.Errorf("bar after documents: %q, want a rate", s)
	}
}
