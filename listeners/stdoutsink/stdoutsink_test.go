package stdoutsink_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/sinktest"
	"github.com/fbadmin/fbadmin/listeners/stdoutsink"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
		var buf lockedBuffer
		return sinktest.Fixture{
			Sink: stdoutsink.New(&buf),
			Received: func(t testing.TB, n int) []listeners.Event {
				return sinktest.DecodeNDJSON(t, buf.Bytes())
			},
		}
	})
}

func TestOneLinePerEvent(t *testing.T) {
	var buf lockedBuffer
	s := stdoutsink.New(&buf)
	if err := s.Send(t.Context(), sinktest.Events("l", 0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(buf.Bytes(), []byte("\n")); got != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", got, buf.Bytes())
	}
}
