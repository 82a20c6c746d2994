package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sample = `# A sample config
project: demo-fbadmin
state_dir: /var/lib/fbadmin/listen
log:
  format: json
http:
  addr: 127.0.0.1:9999
engine:
  watchdog: 10m
  verify: auto
  queue_size: 5000
sinks:
  - name: archive
    file:
      path: /var/lib/fbadmin/events.ndjson
      max_size: 100MiB
      fsync: always
  - name: hook
    webhook:
      url: https://example.com/hook
      secret: ${TEST_HOOK_SECRET}
      timeout: 5s
  - name: out
    stdout: {}
  - name: bus
    pubsub:
      topic: ${TEST_TOPIC:-firestore-events}
listeners:
  - name: orders
    collection: orders
    where:
      - {field: status, op: "==", value: paid}
      - {field: total, op: ">", value: 10}
      - {field: created, op: ">=", value: {$timestamp: "2026-01-01T00:00:00Z"}}
    sinks: [archive, hook]
  - name: items
    collection_group: items
    initial: changes-only
    sinks: [out, bus]
`

func TestSampleConfig(t *testing.T) {
	t.Setenv("TEST_HOOK_SECRET", "hmac-key")
	cfg, err := ParseConfig("sample.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sinks[1].Webhook.Secret; got != "hmac-key" {
		t.Errorf("secret = %q, want it expanded from the environment", got)
	}
	if got := cfg.Sinks[3].PubSub.Topic; got != "firestore-events" {
		t.Errorf("topic = %q, want the ${VAR:-default} default", got)
	}
	if got := cfg.Sinks[0].File.MaxSize; got != 100<<20 {
		t.Errorf("max_size = %d, want 100 MiB", got)
	}
	if cfg.Engine.Watchdog != 10*time.Minute || cfg.Engine.QueueSize != 5000 || cfg.Sinks[1].Webhook.Timeout != 5*time.Second {
		t.Errorf("engine/webhook durations not parsed: %+v %+v", cfg.Engine, cfg.Sinks[1].Webhook)
	}
	if cfg.Listeners[0].Initial != "snapshot" || cfg.Database != "(default)" || cfg.Log.Level != "info" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if kinds := []string{cfg.Sinks[0].Kind(), cfg.Sinks[1].Kind(), cfg.Sinks[2].Kind(), cfg.Sinks[3].Kind()}; strings.Join(kinds, ",") != "file,webhook,stdout,pubsub" {
		t.Errorf("kinds = %v", kinds)
	}
	sum := cfg.Summary()
	if !strings.Contains(sum, "2 listener(s), 4 sink(s)") || strings.Contains(sum, "hmac-key") {
		t.Errorf("summary %q: want counts and no secret", sum)
	}
	v, err := filterValue(cfg.Listeners[0].Where[2].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ts, ok := v.(time.Time); !ok || !ts.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("typed filter value = %#v, want a timestamp", v)
	}
	if v, _ := filterValue(cfg.Listeners[0].Where[1].Value); v != int64(10) {
		t.Errorf("filter value 10 = %#v, want int64(10)", v)
	}
}

func TestBadConfigs(t *testing.T) {
	t.Setenv("TEST_HOOK_SECRET", "x")
	os.Unsetenv("TEST_UNSET_VAR")
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"unknown top key", "project: demo-fbadmin\nprojct: typo\n", `[3:1] unknown field "projct"`},
		{"unknown nested key", "      fsync: always\n      rotate: daily\n", `unknown field "rotate"`},
		{"duplicate key", "project: demo-fbadmin\nproject: other\n", `mapping key "project" already defined`},
		{"unset env", "secret: ${TEST_HOOK_SECRET}", "secret: ${TEST_UNSET_VAR}"},
		{"unknown sink", "sinks: [archive, hook]", "sinks: [archive, hooks]"},
		{"bad fsync", "fsync: always", "fsync: sometimes"},
		{"bad url", "url: https://example.com/hook", "url: example.com/hook"},
		{"bad op", `op: "=="`, `op: "="`},
		{"bad initial", "initial: changes-only", "initial: everything"},
		{"both kinds", "    stdout: {}\n", "    stdout: {}\n    file: {path: x}\n"},
		{"bad size", "max_size: 100MiB", "max_size: lots"},
		{"bad duration", "watchdog: 10m", "watchdog: ten minutes"},
		{"no state dir", "state_dir: /var/lib/fbadmin/listen\n", "\n"},
		{"bad collection", "collection: orders", "collection: users/alice"},
		{"bad addr", "addr: 127.0.0.1:9999", "addr: localhost"},
		{"bad verify", "verify: auto", "verify: sometimes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := sample
			var want []string
			switch tc.name {
			case "unknown top key", "unknown nested key", "duplicate key":
				old := strings.SplitAfter(tc.edit, "\n")[0]
				src = strings.Replace(sample, old, tc.edit, 1)
				want = []string{tc.want}
			default:
				if !strings.Contains(sample, tc.edit) {
					t.Fatalf("sample lacks %q", tc.edit)
				}
				src = strings.Replace(sample, tc.edit, tc.want, 1)
			}
			_, err := ParseConfig("bad.yaml", []byte(src))
			if err == nil {
				t.Fatalf("config with %s loaded without error", tc.name)
			}
			msg := err.Error()
			if !strings.Contains(msg, "bad.yaml") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if want == nil && tc.name != "no state dir" && !strings.Contains(msg, "line ") && !strings.Contains(msg, "[") {
				t.Errorf("error does not give a line: %s", msg)
			}
			t.Logf("%s", msg)
		})
	}
}

// TestErrorLines checks that validation errors point at the right line.
func TestErrorLines(t *testing.T) {
	t.Setenv("TEST_HOOK_SECRET", "x")
	src := strings.Replace(sample, "sinks: [archive, hook]", "sinks: [archive, hooks]", 1)
	_, err := ParseConfig("c.yaml", []byte(src))
	lines := strings.Split(src, "\n")
	want := 0
	for i, l := range lines {
		if strings.Contains(l, "hooks") {
			want = i + 1
		}
	}
	if err == nil || !strings.Contains(err.Error(), "line "+itoa(want)+": listeners[0].sinks[1]: unknown sink \"hooks\"") {
		t.Fatalf("error %v, want it at line %d naming listeners[0].sinks[1]", err, want)
	}
	t.Setenv("TEST_UNSET_VAR", "")
	src = strings.Replace(sample, "secret: ${TEST_HOOK_SECRET}", "secret: ${TEST_UNSET_VAR}", 1)
	_, err = ParseConfig("c.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "sinks[1].webhook.secret: environment variable TEST_UNSET_VAR is not set") {
		t.Fatalf("error %v, want it to name the key and the variable", err)
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestCheckFile(t *testing.T) {
	t.Setenv("TEST_HOOK_SECRET", "x")
	dir := t.TempDir()
	path := filepath.Join(dir, "listen.yaml")
	if err := os.WriteFile(path, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := Check(path)
	if err != nil || !strings.Contains(sum, "is valid") {
		t.Fatalf("Check = %q, %v", sum, err)
	}
	// Check creates nothing: the state directory of the sample does not
	// appear.
	if _, err := os.Stat("/var/lib/fbadmin/listen"); err == nil {
		t.Log("note: /var/lib/fbadmin/listen exists on this machine")
	}
	if _, err := Check(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Check(missing) = %v, want an error naming the file", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1KB": 1000, "1KiB": 1024, "100MiB": 100 << 20, "2gb": 2e9, "3 GiB": 3 << 30} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("%q: got %d, %v; want %d", in, b, err, want)
		}
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("1.5GB")); err == nil {
		t.Error("1.5GB accepted")
	}
}
