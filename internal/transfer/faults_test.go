package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/fbadmin/fbadmin/internal/faults"
	"github.com/fbadmin/fbadmin/internal/value"
)

// TestUnderFaults runs import, export, copy and recursive delete of a
// 20,000-document three-level tree (1,250 users, 3 orders each, 4 items
// per order) through a connection that fails 10% of calls with each
// transient status code Firestore answers under load (half of the write
// failures after the server applied the write, the answer lost) and breaks
// streams mid-way: each job must end with exactly the right state, no
// document lost, none written twice with different content, nothing left
// behind by the delete.
func TestUnderFaults(t *testing.T) {
	src, want := faultTree(t, 1250, 3, 4)
	for _, code := range []codes.Code{codes.ResourceExhausted, codes.Unavailable, codes.Aborted, codes.DeadlineExceeded} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			inj := faults.New(faults.Config{Code: code, Rate: 0.1, StreamRate: 0.0005, Seed: uint64(code), Leading: 2})
			faulty, err := Open(ctx, Config{Project: e.fs.ProjectID, EmulatorHost: e.fs.Host, DialOptions: inj.DialOptions()})
			if err != nil {
				t.Fatal(err)
			}
			defer faulty.Close()
			jobsUnderFaults(t, e, faulty, src, want)
			total, after := inj.Injected()
			if total < 10 || after == 0 {
				t.Errorf("only %d faults injected (%d after the call was served): the test proves little", total, after)
			}
			t.Logf("%s: %d faults injected, %d of them after the server had served the call", code, total, after)
		})
	}
}

// faultTree writes a three-level tree of users, their orders and the
// orders' items (users*(1+orders*(1+items)) documents of varied field
// types) as an import file, and returns it with its documents by path.
func faultTree(t *testing.T, users, orders, items int) (string, map[string]map[string]any) {
	t.Helper()
	var file bytes.Buffer
	want := map[string]map[string]any{}
	add := func(path string, data map[string]any) {
		b, err := value.EncodeMap(data)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := json.Marshal(Line{Path: path, Data: b})
		file.Write(append(l, '\n'))
		want[path] = data
	}
	for u := range users {
		up := fmt.Sprintf("users/u%05d", u)
		add(up, map[string]any{"n": int64(u) << 40, "name": "user " + up, "raw": []byte{0, byte(u), 0xff}})
		for o := range orders {
			op := fmt.Sprintf("%s/orders/o%d", up, o)
			add(op, map[string]any{"total": float64(u) + 0.25, "at": time.Unix(1700000000+int64(u), 123456000).UTC()})
			for i := range items {
				add(fmt.Sprintf("%s/items/i%d", op, i), map[string]any{"qty": int64(i + 1), "tags": []any{"a", int64(i)}})
			}
		}
	}
	src := filepath.Join(t.TempDir(), "tree.ndjson")
	if err := os.WriteFile(src, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return src, want
}

// jobsUnderFaults imports src through faulty, exports it, copies it to
// archive and deletes both trees recursively, checking after each job,
// through e's clean connection, that the state is exactly right: no
// document lost, none with other content, none written twice by the
// export, nothing left behind by the deletes.
func jobsUnderFaults(t *testing.T, e *env, faulty *DB, src string, want map[string]map[string]any) {
	t.Helper()
	ctx := context.Background()
	state := func(prefix string) map[string]map[string]any {
		var buf bytes.Buffer
		var o ExportOptions
		if prefix != "" {
			o.Paths = []string{strings.TrimSuffix(prefix, "/")} // that tree only
		}
		if _, err := Export(ctx, e.db, &buf, o); err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]any{}
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			p, d, err := ParseLine(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(p, prefix) {
				out[p] = d
			}
		}
		return out
	}
	same := func(what string, got, want map[string]map[string]any, rename func(string) string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d documents, want %d", what, len(got), len(want))
		}
		for p, w := range want {
			if g, ok := got[rename(p)]; !ok || !value.Equal(g, w) {
				t.Fatalf("%s: %s is %v, want %v", what, rename(p), g, w)
			}
		}
	}
	keep := func(p string) string { return p }

	st, err := Import(ctx, faulty, src, ImportOptions{Journal: filepath.Join(t.TempDir(), "j")})
	if err != nil || st.Failed != 0 {
		t.Fatalf("import under faults: %+v, %v", st, err)
	}
	same("after the import", state("users/"), want, keep)

	var exp bytes.Buffer
	if _, err := Export(ctx, faulty, &exp, ExportOptions{Paths: []string{"users"}}); err != nil {
		t.Fatalf("export under faults: %v", err)
	}
	got := map[string]map[string]any{}
	sc := bufio.NewScanner(&exp)
	for sc.Scan() {
		p, d, err := ParseLine(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[p]; dup {
			t.Fatalf("export under faults wrote %s twice", p)
		}
		got[p] = d
	}
	same("the export", got, want, keep)

	if st, err := Copy(ctx, faulty, faulty, CopyOptions{Src: "users", Dst: "archive", Recursive: true}); err != nil || st.Failed != 0 {
		t.Fatalf("copy under faults: %+v, %v", st, err)
	}
	same("the copy", state("archive/"), want, func(p string) string { return "archive/" + strings.TrimPrefix(p, "users/") })

	for _, root := range []string{"users", "archive"} {
		if st, err := Delete(ctx, faulty, DeleteOptions{Paths: []string{root}, Recursive: true, Journal: filepath.Join(t.TempDir(), "d")}); err != nil || st.Failed != 0 {
			t.Fatalf("delete %s under faults: %+v, %v", root, st, err)
		}
	}
	if left := state(""); len(left) != 0 {
		t.Fatalf("left after the deletes under faults: %d documents", len(left))
	}
}
