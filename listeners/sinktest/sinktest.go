// Package sinktest is the conformance suite every [listeners.Sink] passes.
//
// # Use
//
// A sink's test opens a fresh sink and a way to read back what its
// destination received, and hands both to [Run]:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
//			s := New(...)
//			return sinktest.Fixture{Sink: s, Received: func(t testing.TB, n int) []listeners.Event { ... }}
//		})
//	}
//
// # What is checked
//
// Events arrive intact (IDs, types, paths, times, data compared value by
// value with the lossless codec), in order, including the removals that
// carry no data; batches of one, of many and of none; a send with a
// cancelled context fails; Close succeeds and leaves everything
// acknowledged readable.
package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// Fixture is one fresh sink under test and its destination.
type Fixture struct {
	Sink listeners.Sink
	// Received returns every event the destination has received so far, in
	// order, waiting up to a few seconds until there are at least n. It
	// is called after Send returns nil, and after Close.
	Received func(t testing.TB, n int) []listeners.Event
	// PerDocumentOrder relaxes the order check to each document's own
	// events, for destinations that only order per key (Pub/Sub ordering
	// keys are document paths).
	PerDocumentOrder bool
	// Latest is for destinations that keep each document's latest state
	// rather than a stream (a table keyed by path: the postgres sink).
	// Received returns one event per document, in any order, and the
	// suite compares it with the last event sent for that document.
	Latest bool
}

// Run runs the suite; open is called once per subtest.
func Run(t *testing.T, open func(t *testing.T) Fixture) {
	t.Run("DeliversEveryField", func(t *testing.T) {
		f := open(t)
		evs := Events("orders", 0, 3)
		evs = append(evs, Removal("orders", "orders/doc-1", evs[1].UpdateTime))
		mustSend(t, f.Sink, evs)
		f.compare(t, f.Received(t, len(evs)), evs)
		closeSink(t, f.Sink)
	})
	t.Run("KeepsOrderAcrossBatches", func(t *testing.T) {
		f := open(t)
		var all []listeners.Event
		base := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		for i := range 20 {
			ev := Event("l", "col/same", listeners.Modified, base.Add(time.Duration(i)*time.Millisecond), map[string]any{"n": int64(i)})
			mustSend(t, f.Sink, []listeners.Event{ev})
			all = append(all, ev)
		}
		f.compare(t, f.Received(t, len(all)), all)
		closeSink(t, f.Sink)
	})
	t.Run("LargeBatch", func(t *testing.T) {
		f := open(t)
		evs := Events("big", 0, 500) // the engine's default batch size
		mustSend(t, f.Sink, evs)
		f.compare(t, f.Received(t, len(evs)), evs)
		closeSink(t, f.Sink)
	})
	t.Run("EmptyBatch", func(t *testing.T) {
		f := open(t)
		if err := f.Sink.Send(context.Background(), nil); err != nil {
			t.Fatalf("Send(nil) = %v, want nil", err)
		}
		ev := Events("e", 0, 1)
		mustSend(t, f.Sink, ev)
		f.compare(t, f.Received(t, 1), ev)
		closeSink(t, f.Sink)
	})
	t.Run("CancelledContext", func(t *testing.T) {
		f := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := f.Sink.Send(ctx, Events("c", 0, 2)); err == nil {
			t.Errorf("Send with a cancelled context returned nil, want an error")
		}
		ev := Events("c", 10, 1)
		mustSend(t, f.Sink, ev)
		f.compare(t, f.Received(t, 1), ev)
		closeSink(t, f.Sink)
	})
	t.Run("CloseKeepsAcknowledged", func(t *testing.T) {
		f := open(t)
		evs := Events("z", 0, 50)
		mustSend(t, f.Sink, evs)
		closeSink(t, f.Sink)
		f.compare(t, f.Received(t, len(evs)), evs)
	})
}

func (f Fixture) compare(t testing.TB, got, want []listeners.Event) {
	t.Helper()
	if f.Latest {
		got, want = latest(got), latest(want)
	}
	if f.PerDocumentOrder || f.Latest {
		byPath := func(a, b listeners.Event) int { return strings.Compare(a.Path, b.Path) }
		got, want = slices.Clone(got), slices.Clone(want)
		slices.SortStableFunc(got, byPath)
		slices.SortStableFunc(want, byPath)
	}
	Compare(t, got, want)
}

// latest keeps the last event of each document, in the order of their
// first events.
func latest(evs []listeners.Event) []listeners.Event {
	at := map[string]int{}
	var out []listeners.Event
	for _, ev := range evs {
		k := ev.Listener + "\x00" + ev.Path
		if i, ok := at[k]; ok {
			out[i] = ev
			continue
		}
		at[k] = len(out)
		out = append(out, ev)
	}
	return out
}

func mustSend(t testing.TB, s listeners.Sink, evs []listeners.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Send(ctx, evs); err != nil {
		t.Fatalf("Send(%d events) = %v, want nil", len(evs), err)
	}
}

func closeSink(t testing.TB, s listeners.Sink) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
}

// Event builds a well-formed event of listener for the document at path
// with data (ignored for removals).
func Event(listener, path string, typ listeners.EventType, updateTime time.Time, data map[string]any) listeners.Event {
	ev := listeners.Event{Type: typ, Listener: listener, Path: path, UpdateTime: updateTime.UTC(),
		ReadTime: updateTime.Add(3 * time.Millisecond).UTC()}
	if typ != listeners.Removed {
		raw, err := value.EncodeMap(data)
		if err != nil {
			panic(fmt.Sprintf("sinktest: encode %v: %v", data, err))
		}
		ev.Data = raw
	}
	ev.ID = listeners.EventID(path, ev.UpdateTime, typ == listeners.Removed)
	return ev
}

// Removal builds the removal of the document at path whose last version
// was written at updateTime.
func Removal(listener, path string, updateTime time.Time) listeners.Event {
	return Event(listener, path, listeners.Removed, updateTime, nil)
}

// Events returns n added events of listener for documents
// "col/doc-<from+i>", with data covering the value types JSON alone would
// lose (int64 extremes, non-finite doubles, bytes, timestamps).
func Events(listener string, from, n int) []listeners.Event {
	base := time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)
	out := make([]listeners.Event, n)
	for i := range n {
		k := from + i
		data := map[string]any{
			"n":      int64(k),
			"big":    int64(math.MaxInt64 - k),
			"f":      float64(k) + 0.5,
			"whole":  float64(k),
			"nan":    math.NaN(),
			"inf":    math.Inf(-1),
			"s":      fmt.Sprintf("doc %d ✓", k),
			"b":      []byte{0, byte(k), 255},
			"t":      base.Add(time.Duration(k) * time.Microsecond),
			"nested": map[string]any{"list": []any{int64(1), "two", nil, true}},
		}
		out[i] = Event(listener, fmt.Sprintf("col/doc-%d", k), listeners.Added, base.Add(time.Duration(k)*time.Millisecond), data)
	}
	return out
}

// Compare fails the test unless got and want hold the same events in the
// same order: same ID, type, listener, path, times, and data equal value by
// value.
func Compare(t testing.TB, got, want []listeners.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("received %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if err := Same(got[i], want[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// Same reports how got differs from want, or nil.
func Same(got, want listeners.Event) error {
	switch {
	case got.ID != want.ID:
		return fmt.Errorf("id %q, want %q", got.ID, want.ID)
	case got.Type != want.Type:
		return fmt.Errorf("%s: type %q, want %q", want.ID, got.Type, want.Type)
	case got.Listener != want.Listener:
		return fmt.Errorf("%s: listener %q, want %q", want.ID, got.Listener, want.Listener)
	case got.Path != want.Path:
		return fmt.Errorf("%s: path %q, want %q", want.ID, got.Path, want.Path)
	case !got.UpdateTime.Equal(want.UpdateTime):
		return fmt.Errorf("%s: update_time %v, want %v", want.ID, got.UpdateTime, want.UpdateTime)
	case !got.ReadTime.Equal(want.ReadTime):
		return fmt.Errorf("%s: read_time %v, want %v", want.ID, got.ReadTime, want.ReadTime)
	case (len(got.Data) == 0) != (len(want.Data) == 0):
		return fmt.Errorf("%s: data %s, want %s", want.ID, got.Data, want.Data)
	}
	if err := got.Validate(); err != nil {
		return err
	}
	if len(want.Data) == 0 {
		return nil
	}
	g, err := value.DecodeMap(got.Data)
	if err != nil {
		return fmt.Errorf("%s: received data does not decode: %v", want.ID, err)
	}
	w, err := value.DecodeMap(want.Data)
	if err != nil {
		return fmt.Errorf("%s: sent data does not decode: %v", want.ID, err)
	}
	if !value.Equal(g, w) {
		return fmt.Errorf("%s: data %s, want %s", want.ID, got.Data, want.Data)
	}
	return nil
}

// DecodeNDJSON parses NDJSON event lines, as the stdout and file sinks
// write them.
func DecodeNDJSON(t testing.TB, b []byte) []listeners.Event {
	t.Helper()
	var out []listeners.Event
	dec := json.NewDecoder(bytesReader(b))
	for dec.More() {
		var ev listeners.Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("decode NDJSON line %d: %v", len(out)+1, err)
		}
		out = append(out, ev)
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
