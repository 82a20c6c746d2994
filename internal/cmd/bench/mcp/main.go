// Command mcp is the benchmark of `fbadmin mcp`, run by "scripts/bench.sh
// mcp": on the Firestore emulator, in one run, it builds the fbadmin binary,
// starts `fbadmin --emulator mcp --allow-writes` over stdio and drives it
// with the official Go SDK's client, as an agent's MCP client would.
//
// Figures (the last line of stdout is one JSON object):
//
//   - "tools": the number of tools tools/list returns.
//   - "lossless_types": how many of the value format's 14 types
//     (docs/value-format.md: null, boolean, string, integer, double, the
//     special doubles, bytes, timestamp, geopoint, reference, vector, array,
//     map, the escaped $map) come back byte for byte after firestore_set
//     then firestore_get; "lossless_types_total" is 14.
//   - "query_vs_cli": calls per second of one 100-document query through
//     one warm MCP session, divided by the calls per second of the same
//     `fbadmin fs query` run as a new process each time (median of the
//     ratios of -rounds interleaved rounds, after an untimed warm-up round).
//   - "direct_query_calls_per_s": the same query through the repository
//     in this process, for context.
//   - "auth_tools": how many of the tools are Auth tools (the benchmark
//     fails when there are none: the Auth emulator is down).
//   - "p99_ms": the 99th percentile latency of firestore_get of one
//     document over MCP stdio; "direct_p99_ms" that of repository.Get of
//     the same document in this process, measured interleaved, call for
//     call; "get_p99_vs_direct" their ratio (lower is better).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

type config struct {
	docs, rounds, queryCalls, cliCalls, gets int
	host                                     string
}

func main() {
	var c config
	flag.IntVar(&c.docs, "docs", 1000, "documents seeded (the query matches a tenth of them, 100 by default)")
	flag.IntVar(&c.rounds, "rounds", 5, "interleaved rounds of the query comparison (the median ratio is reported)")
	flag.IntVar(&c.queryCalls, "query-calls", 40, "MCP query calls per round")
	flag.IntVar(&c.cliCalls, "cli-calls", 8, "fbadmin fs query processes per round")
	flag.IntVar(&c.gets, "gets", 1000, "gets over MCP and direct, each (after 50 untimed)")
	flag.StringVar(&c.host, "emulator", "", "Firestore emulator host (default: FIRESTORE_EMULATOR_HOST or 127.0.0.1:8080)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench mcp:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench mcp: "+format+"\n", args...) }

func run(c config) error {
	if c.host == "" {
		c.host = os.Getenv("FIRESTORE_EMULATOR_HOST")
	}
	if c.host == "" {
		c.host = emutest.DefaultFirestoreHost
	}
	conn, err := net.DialTimeout("tcp", c.host, 2*time.Second)
	if err != nil {
		return fmt.Errorf("the Firestore emulator is not reachable at %s: %v (start it with scripts/emulators.sh start)", c.host, err)
	}
	conn.Close()
	os.Setenv("FIRESTORE_EMULATOR_HOST", c.host)
	work, err := os.MkdirTemp("", "fbadmin-bench-mcp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := emutest.BuildFbadmin(work)
	if err != nil {
		return err
	}
	var rb [4]byte
	rand.Read(rb[:])
	project := "demo-benchmcp-" + hex.EncodeToString(rb[:])
	defer emutest.ResetFirestore(c.host, project, "(default)")
	ctx := context.Background()
	client, err := firestore.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()

	logf("seeding %d documents in project %s", c.docs, project)
	if err := seed(ctx, client, c.docs); err != nil {
		return err
	}

	cmd := exec.Command(bin, "--emulator", "--project", project, "-q", "mcp", "--allow-writes", "--max-docs", "1000")
	cmd.Stderr = os.Stderr
	mc := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "v0"}, nil)
	start := time.Now()
	cs, err := mc.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	firstList := time.Since(start)
	auths := 0
	for _, tool := range tools.Tools {
		if strings.HasPrefix(tool.Name, "auth_") {
			auths++
		}
	}
	if auths == 0 {
		return errors.New("the server offers no Auth tools: is the Auth emulator up (FIREBASE_AUTH_EMULATOR_HOST)? The server's stderr above says why")
	}
	logf("%d tools; start and tools/list in %s", len(tools.Tools), firstList.Round(time.Millisecond))

	lossless, total, err := losslessTypes(ctx, cs, project)
	if err != nil {
		return err
	}
	logf("lossless types: %d of %d", lossless, total)

	mcpRate, cliRate, ratio, err := queryVsCLI(ctx, c, cs, bin, project)
	if err != nil {
		return err
	}
	logf("query: MCP %.1f calls/s, CLI %.2f calls/s, ratio %.1f", mcpRate, cliRate, ratio)
	// For context: the same query through the repository in this process.
	directRate, err := directQueries(ctx, client, c.docs/10, c.queryCalls)
	if err != nil {
		return err
	}
	logf("query: direct %.1f calls/s", directRate)

	mcpLat, directLat, err := gets(ctx, c, cs, client)
	if err != nil {
		return err
	}
	p99, dp99 := ms(pct(mcpLat, 0.99)), ms(pct(directLat, 0.99))
	logf("get p50 %.2f ms p99 %.2f ms over MCP; direct p50 %.2f ms p99 %.2f ms", ms(pct(mcpLat, 0.5)), p99, ms(pct(directLat, 0.5)), dp99)

	out := map[string]any{
		"tools":                    len(tools.Tools),
		"auth_tools":               auths,
		"start_to_tools_list_ms":   round(ms(firstList)),
		"lossless_types":           lossless,
		"lossless_types_total":     total,
		"query_docs":               c.docs / 10,
		"mcp_query_calls_per_s":    round(mcpRate),
		"cli_query_calls_per_s":    round(cliRate),
		"query_vs_cli":             round(ratio),
		"direct_query_calls_per_s": round(directRate),
		"p50_ms":                   round(ms(pct(mcpLat, 0.5))),
		"p99_ms":                   round(p99),
		"direct_p50_ms":            round(ms(pct(directLat, 0.5))),
		"direct_p99_ms":            round(dp99),
		"get_p99_vs_direct":        round(p99 / dp99),
		"gets":                     c.gets,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return nil
}

func seed(ctx context.Context, client *firestore.Client, n int) error {
	w := repository.New[map[string]any](client, "items").BulkWriter(ctx, nil)
	for j := range n {
		w.Set(fmt.Sprintf("d%05d", j), map[string]any{
			"g": int64(j % 10), "n": int64(j), "name": fmt.Sprintf("item %d", j), "score": float64(j) / 7,
			"at": time.Unix(1700000000+int64(j), 123456000).UTC(), "tags": []any{"a", "b"},
		})
	}
	_, err := w.Close()
	return err
}

// types are the value format's 14 types (docs/value-format.md), each as
// fbadmin writes it.
func types(project string) [][2]string {
	return [][2]string{
		{"null", `null`},
		{"boolean", `true`},
		{"string", `"h\u00e9llo \"w\u00f6rld\"\n"`},
		{"integer", `[{"$int":"9223372036854775807"},{"$int":"-9223372036854775808"},{"$int":"9007199254740993"}]`},
		{"double", `[{"$double":1.5},{"$double":1},{"$double":5e-324},{"$double":1.7976931348623157e308}]`},
		{"double_special", `[{"$double":"NaN"},{"$double":"Infinity"},{"$double":"-Infinity"},{"$double":"-0"}]`},
		{"bytes", `{"$bytes":"AAEC/w=="}`},
		{"timestamp", `{"$timestamp":"2024-05-17T09:30:12.345678Z"}`},
		{"geopoint", `{"$geopoint":{"latitude":48.85,"longitude":2.35}}`},
		{"reference", `{"$ref":"projects/` + project + `/databases/(default)/documents/users/bob"}`},
		{"vector", `{"$vector":[0.25,-1,3]}`},
		{"array", `["a",{"$int":"1"},null,{"m":true}]`},
		{"map", `{"a":{"b":{"$int":"2"}},"c":"d"}`},
		{"escaped_map", `{"$map":{"$price":{"$int":"10"}}}`},
	}
}

func losslessTypes(ctx context.Context, cs *sdk.ClientSession, project string) (int, int, error) {
	ok := 0
	ts := types(project)
	for _, t := range ts {
		data := json.RawMessage(`{"v":` + t[1] + `}`)
		path := "types/" + t[0]
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "firestore_set", Arguments: map[string]any{"path": path, "data": data}})
		if err != nil {
			return 0, 0, err
		}
		if res.IsError {
			logf("%s: set refused: %v", t[0], text(res))
			continue
		}
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "firestore_get", Arguments: map[string]any{"paths": []string{path}}})
		if err != nil {
			return 0, 0, err
		}
		var got struct {
			Documents []struct {
				Data json.RawMessage `json:"data"`
			} `json:"documents"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &got); err != nil || len(got.Documents) != 1 {
			logf("%s: get: %s", t[0], b)
			continue
		}
		want, err := value.EncodeMap(mustDecode(data))
		if err != nil {
			return 0, 0, err
		}
		if bytes.Equal(got.Documents[0].Data, want) {
			ok++
		} else {
			logf("%s: wrote %s, read %s", t[0], want, got.Documents[0].Data)
		}
	}
	return ok, len(ts), nil
}

func mustDecode(b []byte) map[string]any {
	m, err := value.DecodeMap(b)
	if err != nil {
		panic(err)
	}
	return m
}

func text(res *sdk.CallToolResult) string {
	for _, c := range res.Content {
		if t, ok := c.(*sdk.TextContent); ok {
			return t.Text
		}
	}
	return ""
}

func queryVsCLI(ctx context.Context, c config, cs *sdk.ClientSession, bin, project string) (mcpRate, cliRate, ratio float64, err error) {
	want := c.docs / 10
	args := map[string]any{"collection": "items", "where": []any{map[string]any{"field": "g", "op": "==", "value": json.RawMessage(`3`)}}, "limit": want}
	mcpQuery := func() error {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "firestore_query", Arguments: args})
		if err != nil {
			return err
		}
		if res.IsError {
			return errors.New(text(res))
		}
		// The client has decoded the structured content already: count
		// the documents there (no second JSON round trip in the timing).
		m, _ := res.StructuredContent.(map[string]any)
		docs, _ := m["documents"].([]any)
		if len(docs) != want {
			return fmt.Errorf("MCP query: got %d documents, want %d", len(docs), want)
		}
		return nil
	}
	cliQuery := func() error {
		cmd := exec.Command(bin, "--emulator", "--project", project, "fs", "query", "items", "--where", "g == 3", "--limit", fmt.Sprint(want), "-o", "ndjson")
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("fbadmin fs query: %v", err)
		}
		if n := bytes.Count(out, []byte("\n")); n != want {
			return fmt.Errorf("fbadmin fs query: got %d documents, want %d", n, want)
		}
		return nil
	}
	// An untimed warm-up round (the emulator compiles its query path on
	// first use: the first timed round was always the slowest).
	for range c.queryCalls {
		if err := mcpQuery(); err != nil {
			return 0, 0, 0, err
		}
	}
	for range 2 {
		if err := cliQuery(); err != nil {
			return 0, 0, 0, err
		}
	}
	var ratios, mcpRates, cliRates []float64
	for r := range c.rounds {
		timeIt := func(n int, f func() error) (float64, error) {
			start := time.Now()
			for range n {
				if err := f(); err != nil {
					return 0, err
				}
			}
			return float64(n) / time.Since(start).Seconds(), nil
		}
		var m, cl float64
		// Alternate which goes first.
		if r%2 == 0 {
			if m, err = timeIt(c.queryCalls, mcpQuery); err == nil {
				cl, err = timeIt(c.cliCalls, cliQuery)
			}
		} else {
			if cl, err = timeIt(c.cliCalls, cliQuery); err == nil {
				m, err = timeIt(c.queryCalls, mcpQuery)
			}
		}
		if err != nil {
			return 0, 0, 0, err
		}
		logf("round %d: MCP %.1f calls/s, CLI %.2f calls/s", r+1, m, cl)
		mcpRates, cliRates, ratios = append(mcpRates, m), append(cliRates, cl), append(ratios, m/cl)
	}
	return median(mcpRates), median(cliRates), median(ratios), nil
}

func directQueries(ctx context.Context, client *firestore.Client, want, n int) (float64, error) {
	q := repository.New[map[string]any](client, "items").Query().Where("g", "==", int64(3)).Limit(want)
	start := time.Now()
	for range n {
		docs, err := q.GetAll(ctx)
		if err != nil {
			return 0, err
		}
		for _, d := range docs {
			if _, err := value.EncodeMap(d.Data); err != nil {
				return 0, err
			}
		}
		if len(docs) != want {
			return 0, fmt.Errorf("direct query: got %d documents, want %d", len(docs), want)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func gets(ctx context.Context, c config, cs *sdk.ClientSession, client *firestore.Client) (mcpLat, directLat []time.Duration, err error) {
	repo := repository.New[map[string]any](client, "items")
	for i := range c.gets + 50 {
		id := fmt.Sprintf("d%05d", (i*37)%c.docs)
		start := time.Now()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "firestore_get", Arguments: map[string]any{"paths": []string{"items/" + id}}})
		if err != nil {
			return nil, nil, err
		}
		if res.IsError {
			return nil, nil, errors.New(text(res))
		}
		d := time.Since(start)
		start = time.Now()
		if _, err := repo.Get(ctx, id); err != nil {
			return nil, nil, err
		}
		dd := time.Since(start)
		if i >= 50 {
			mcpLat, directLat = append(mcpLat, d), append(directLat, dd)
		}
	}
	return mcpLat, directLat, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
