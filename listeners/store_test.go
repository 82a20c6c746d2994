package listeners_test

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
)

// memStore is a listeners.Store in memory that counts its writes.
type memStore struct {
	mu     sync.Mutex
	data   map[string][]byte
	writes map[string]int
}

func (m *memStore) Read(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return append([]byte(nil), b...), nil
}

func (m *memStore) Write(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[name] = append([]byte{}, data...)
	m.writes[name]++
	return nil
}

func (m *memStore) Append(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[name] = append(m.data[name], data...)
	m.writes[name]++
	return nil
}

func (m *memStore) count(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes[name]
}

// TestStoreKeepsCheckpointsAndJournal runs the engine with its state in a
// Store instead of a directory: a second engine on the same store (another
// process taking the listener over) emits exactly the changes made while
// none ran, and an idle engine does not rewrite the store.
func TestStoreKeepsCheckpointsAndJournal(t *testing.T) {
	f, _ := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	for i := range 5 {
		if _, err := col.Doc(fmt.Sprintf("d%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	st := &memStore{data: map[string][]byte{}, writes: map[string]int{}}
	withStore := func(o *listeners.Options) { o.Store = st }
	sink := &memSink{}
	r := start(t, engineConfig{project: f.ProjectID, query: collection("items"), opts: withStore, sinks: map[string]listeners.Sink{"mem": sink}})
	waitFor(t, 10*time.Second, "5 events", func() bool { return len(sink.all()) == 5 })
	waitFor(t, 10*time.Second, "a checkpoint in the store", func() bool { return st.count("l/mem.ckpt") > 0 })
	time.Sleep(200 * time.Millisecond)
	ck, jn := st.count("l/mem.ckpt"), st.count(".journal/mem.wal")
	time.Sleep(500 * time.Millisecond) // ten checkpoint intervals, idle
	if c, j := st.count("l/mem.ckpt"), st.count(".journal/mem.wal"); c != ck || j != jn {
		t.Errorf("an idle engine wrote the store: checkpoint %d -> %d writes, journal %d -> %d", ck, c, jn, j)
	}
	r.stop(t)

	if _, err := col.Doc("d0").Set(ctx, map[string]any{"n": int64(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d1").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	sink2 := &memSink{}
	r = start(t, engineConfig{project: f.ProjectID, query: collection("items"), opts: withStore, sinks: map[string]listeners.Sink{"mem": sink2}})
	waitFor(t, 10*time.Second, "2 events", func() bool { return len(sink2.all()) >= 2 })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	got := map[string]listeners.EventType{}
	for _, ev := range sink2.all() {
		got[ev.Path] = ev.Type
	}
	want := map[string]listeners.EventType{"items/d0": listeners.Modified, "items/d1": listeners.Removed}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(sink2.all()) != 2 {
		t.Fatalf("the second engine on the store emitted %v, want %v", sink2.all(), want)
	}
	if d := diffStates(state(append(sink.all(), sink2.all()...)), dbState(t, col.Query)); d != "" {
		t.Fatalf("rebuilt state differs from the database: %s", d)
	}
}
