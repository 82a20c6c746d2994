package filesink_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
	"github.com/fbadmin/fbadmin/listeners/sinktest"
)

// readAll returns the events of the rotated files, oldest first, then of
// the current file.
func readAll(t testing.TB, path string) []listeners.Event {
	t.Helper()
	var all []byte
	for i := 100; i >= 1; i-- {
		b, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i))
		if err == nil {
			all = append(all, b...)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return sinktest.DecodeNDJSON(t, append(all, b...))
}

func TestConformance(t *testing.T) {
	for _, policy := range []string{filesink.FsyncAlways, filesink.FsyncInterval, filesink.FsyncNever} {
		t.Run(policy, func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
				path := filepath.Join(t.TempDir(), "out", "events.ndjson")
				s, err := filesink.New(filesink.Options{Path: path, Fsync: policy, MaxSize: 64 << 10, MaxFiles: 100})
				if err != nil {
					t.Fatal(err)
				}
				return sinktest.Fixture{Sink: s, Received: func(t testing.TB, n int) []listeners.Event { return readAll(t, path) }}
			})
		})
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	s, err := filesink.New(filesink.Options{Path: path, MaxSize: 4096, MaxFiles: 3, Fsync: filesink.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Events("rot", 0, 60)
	for i := range evs {
		if err := s.Send(context.Background(), evs[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + ".1", path + ".2", path + ".3"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatalf("want %s to exist: %v", name, err)
		}
		if st.Size() > 4096 {
			t.Errorf("%s is %d bytes, want at most 4096", name, st.Size())
		}
	}
	if _, err := os.Stat(path + ".4"); !os.IsNotExist(err) {
		t.Errorf("%s.4 exists, want only 3 rotated files kept", path)
	}
	// The kept files hold the newest events, contiguous and in order.
	got := readAll(t, path)
	if len(got) == 0 || len(got) >= len(evs) {
		t.Fatalf("kept %d events, want some but fewer than %d", len(got), len(evs))
	}
	sinktest.Compare(t, got, evs[len(evs)-len(got):])
}

func TestAppendsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	evs := sinktest.Events("r", 0, 4)
	for i := range 2 {
		s, err := filesink.New(filesink.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), evs[2*i:2*i+2]); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sinktest.Compare(t, readAll(t, path), evs)
}

func TestIntervalPolicySyncsInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	s, err := filesink.New(filesink.Options{Path: path, Fsync: filesink.FsyncInterval, FsyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), sinktest.Events("i", 0, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("file does not end with a full line: %q", b)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts filesink.Options
		want string
	}{
		{filesink.Options{}, "no path"},
		{filesink.Options{Path: filepath.Join(t.TempDir(), "x"), Fsync: "sometimes"}, `fsync "sometimes"`},
	} {
		_, err := filesink.New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.opts, err, tc.want)
		}
	}
}
