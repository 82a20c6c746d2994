package pubsubsink_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/pubsubsink"
	"github.com/fbadmin/fbadmin/listeners/sinktest"
)

// pubsubHost returns the Pub/Sub emulator's host, failing under CI and
// skipping elsewhere when it does not answer.
func pubsubHost(t testing.TB) string {
	t.Helper()
	host := os.Getenv("PUBSUB_EMULATOR_HOST")
	if host == "" {
		host = emutest.DefaultPubSubHost
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		emutest.Unavailable(t, "Pub/Sub", host, err.Error())
	}
	c.Close()
	return host
}

// topic creates a topic and an ordered subscription in a fresh project and
// collects what the subscription receives.
type topic struct {
	project, id string
	mu          sync.Mutex
	got         []listeners.Event
	seen        map[string]bool
	attrs       []map[string]string
	keys        []string
}

func newTopic(t *testing.T) *topic {
	t.Helper()
	t.Setenv("PUBSUB_EMULATOR_HOST", pubsubHost(t))
	tp := &topic{project: emutest.ProjectID(t), id: "events", seen: map[string]bool{}}
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, tp.project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	topicName := "projects/" + tp.project + "/topics/" + tp.id
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	subName := "projects/" + tp.project + "/subscriptions/sub"
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: subName, Topic: topicName, EnableMessageOrdering: true, AckDeadlineSeconds: 60,
	}); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.Subscriber(subName).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
			var ev listeners.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Errorf("message %s: %v", m.ID, err)
			}
			tp.mu.Lock()
			if !tp.seen[m.ID] { // the emulator may redeliver
				tp.seen[m.ID] = true
				tp.got = append(tp.got, ev)
				tp.attrs = append(tp.attrs, m.Attributes)
				tp.keys = append(tp.keys, m.OrderingKey)
			}
			tp.mu.Unlock()
			m.Ack()
		})
		if err != nil && rctx.Err() == nil {
			t.Errorf("receive: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tp
}

func (tp *topic) wait(t testing.TB, n int) []listeners.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tp.mu.Lock()
		got := append([]listeners.Event(nil), tp.got...)
		tp.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newSink(t *testing.T, tp *topic) *pubsubsink.Sink {
	t.Helper()
	s, err := pubsubsink.New(context.Background(), pubsubsink.Options{Project: tp.project, Topic: tp.id})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
		tp := newTopic(t)
		return sinktest.Fixture{Sink: newSink(t, tp), Received: tp.wait, PerDocumentOrder: true}
	})
}

func TestAttributesAndOrderingKey(t *testing.T) {
	tp := newTopic(t)
	s := newSink(t, tp)
	defer s.Close()
	evs := sinktest.Events("ps", 0, 2)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	tp.wait(t, 2)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for i, a := range tp.attrs {
		ev := tp.got[i]
		if a["id"] != ev.ID || a["path"] != ev.Path || a["type"] != string(ev.Type) || a["listener"] != "ps" {
			t.Errorf("attributes %v do not match event %s", a, ev.ID)
		}
		if tp.keys[i] != ev.Path {
			t.Errorf("ordering key %q, want the path %q", tp.keys[i], ev.Path)
		}
	}
}

func TestMissingTopicIsAClearError(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", pubsubHost(t))
	s, err := pubsubsink.New(context.Background(), pubsubsink.Options{Project: emutest.ProjectID(t), Topic: "nosuchtopic"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs := sinktest.Events("m", 0, 2)
	err = s.Send(ctx, evs)
	if err == nil || !strings.Contains(err.Error(), "nosuchtopic") || !strings.Contains(strings.ToLower(err.Error()), "not found") {
		t.Fatalf("Send to a missing topic = %v, want an error naming the topic and NotFound", err)
	}
	// The ordering keys were resumed: a second attempt fails the same way,
	// not with "publishing paused".
	err = s.Send(ctx, evs)
	if err == nil || strings.Contains(strings.ToLower(err.Error()), "paused") {
		t.Fatalf("second Send = %v, want the NotFound error again, keys resumed", err)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := pubsubsink.New(context.Background(), pubsubsink.Options{Topic: "x"}); err == nil {
		t.Fatal("New without a project succeeded")
	}
}
