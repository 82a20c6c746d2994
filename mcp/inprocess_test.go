package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// TestConcurrentCallsInProcess runs the server in this process (so that
// go test -race covers it; the other tests drive the built binary) and
// calls its tools from many goroutines at once.
func TestConcurrentCallsInProcess(t *testing.T) {
	fs := emutest.NewFirestore(t)
	ctx := context.Background()
	db, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(Options{Firestore: fs.Client, DB: db, AllowWrites: true, AllowDestructive: true})
	if err != nil {
		t.Fatal(err)
	}
	st, ct := sdk.NewInMemoryTransports()
	ss, err := s.sdk.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "v0"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(name string, args any) (*sdk.CallToolResult, error) {
		return cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				path := fmt.Sprintf("conc/g%d-%d", g, i)
				steps := []struct {
					name string
					args any
				}{
					{"firestore_set", map[string]any{"path": path, "data": json.RawMessage(fmt.Sprintf(`{"g":%d,"i":{"$int":"%d"}}`, g, i))}},
					{"firestore_get", map[string]any{"paths": []string{path}}},
					{"firestore_query", map[string]any{"collection": "conc", "where": []any{map[string]any{"field": "g", "op": "==", "value": json.RawMessage(fmt.Sprint(g))}}}},
					{"firestore_aggregate", map[string]any{"collection": "conc"}},
					{"firestore_delete", map[string]any{"paths": []string{path}}},
				}
				for _, step := range steps {
					res, err := call(step.name, step.args)
					if err == nil && res.IsError {
						err = fmt.Errorf("%s: %v", step.name, res.Content)
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	var got struct {
		Documents []json.RawMessage `json:"documents"`
	}
	res, err := call("firestore_query", map[string]any{"collection": "conc", "limit": 100})
	if err != nil || res.IsError {
		t.Fatalf("query: %v %v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &got)
	if len(got.Documents) != 40 {
		t.Errorf("got %d documents, want 40 (the deletes were dry runs)", len(got.Documents))
	}
}
