package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/errs"
)

func TestParse(t *testing.T) {
	cases := []struct {
		arg                  string
		kind                 Kind
		path, bucket, key, q string
		prefix               bool
		str                  string
	}{
		{arg: "-", kind: Stdio, str: "-"},
		{arg: "backup.ndjson", kind: Local, path: "backup.ndjson", str: "backup.ndjson"},
		{arg: "/tmp/x.ndjson.gz", kind: Local, path: "/tmp/x.ndjson.gz", str: "/tmp/x.ndjson.gz"},
		{arg: "dir/", kind: Local, path: "dir/", prefix: true, str: "dir/"},
		{arg: "weird:name", kind: Local, path: "weird:name", str: "weird:name"},
		{arg: "file:///tmp/a%20b.ndjson", kind: Local, path: "/tmp/a b.ndjson", str: "/tmp/a b.ndjson"},
		{arg: "file://localhost/tmp/x", kind: Local, path: "/tmp/x", str: "/tmp/x"},
		{arg: "gs://bkt/backups/2026/x.ndjson", kind: GCS, bucket: "bkt", key: "backups/2026/x.ndjson", str: "gs://bkt/backups/2026/x.ndjson"},
		{arg: "gs://bkt/backups/", kind: GCS, bucket: "bkt", key: "backups/", prefix: true, str: "gs://bkt/backups/"},
		{arg: "gs://bkt", kind: GCS, bucket: "bkt", key: "", prefix: true, str: "gs://bkt/"},
		{arg: "s3://b/k.ndjson?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A9000&use_path_style=true", kind: S3, bucket: "b", key: "k.ndjson",
			q:   "endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&use_path_style=true",
			str: "s3://b/k.ndjson?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&use_path_style=true"},
	}
	for _, c := range cases {
		l, err := Parse(c.arg)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.arg, err)
			continue
		}
		if l.Kind != c.kind || l.Path != c.path || l.Bucket != c.bucket || l.Key != c.key || l.Query.Encode() != c.q {
			t.Errorf("Parse(%q) = %+v, want kind %d path %q bucket %q key %q query %q", c.arg, l, c.kind, c.path, c.bucket, c.key, c.q)
		}
		if got := l.IsPrefix(); got != c.prefix {
			t.Errorf("Parse(%q).IsPrefix() = %v, want %v", c.arg, got, c.prefix)
		}
		if got := l.String(); got != c.str {
			t.Errorf("Parse(%q).String() = %q, want %q", c.arg, got, c.str)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct{ arg, want string }{
		{"", "empty file name"},
		{"ftp://host/x", `unsupported scheme "ftp"`},
		{"http://example.com/x.ndjson", `unsupported scheme "http"`},
		{"gs:///x", "no bucket"},
		{"gs://b/x?anonymous=true", "gs:// URLs take no settings"},
		{"s3://b/x?regoin=eu", `unknown setting "regoin"`},
		{"gs://b/a/../x", "segment"},
		{"file://host/x", "no host"},
		{"s3://AKIA:secret@b/x", "credentials do not belong in the URL"},
	}
	for _, c := range cases {
		_, err := Parse(c.arg)
		if err == nil || !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v, want an invalid-argument error saying %q", c.arg, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q): the error shows the password: %v", c.arg, err)
		}
	}
}

func TestJoinAndDir(t *testing.T) {
	l, _ := Parse("gs://b/backups/2026")
	if got := l.Join("manifest.json").String(); got != "gs://b/backups/2026/manifest.json" {
		t.Errorf("Join: %s", got)
	}
	o, _ := Parse("gs://b/backups/2026/manifest.json")
	if got := o.Dir().String(); got != "gs://b/backups/2026/" {
		t.Errorf("Dir: %s", got)
	}
	top, _ := Parse("gs://b/x")
	if got := top.Dir().String(); got != "gs://b/" {
		t.Errorf("Dir of a top-level object: %s", got)
	}
	loc, _ := Parse("/tmp/d/m.json")
	if got := loc.Dir().Join("p.ndjson").String(); got != "/tmp/d/p.ndjson" {
		t.Errorf("local Dir/Join: %s", got)
	}
}

func TestCompressionOf(t *testing.T) {
	for name, want := range map[string]Compression{"a.ndjson": None, "a.ndjson.gz": Gzip, "a.zst": Zstd, "a.gzip": None} {
		if got := CompressionOf(name); got != want {
			t.Errorf("CompressionOf(%q) = %q, want %q", name, got, want)
		}
	}
}
