// Package pubsubsink is the [listeners.Sink] that publishes each event as one
// Google Cloud Pub/Sub message (cloud.google.com/go/pubsub/v2).
//
// # Messages
//
// The message data is the event's JSON (the format of [listeners.Event]);
// the attributes repeat its id, type, listener and path so subscribers can
// filter without parsing. The ordering key is the document path and message
// ordering is enabled, so a subscription with ordering enabled receives
// each document's changes in order.
//
// # Delivery
//
// Send returns once Pub/Sub has accepted every message of the batch. When a
// publish fails, the keys that failed are resumed ([pubsub.Publisher.ResumePublish])
// and Send returns the error; the engine then resends the whole batch, so
// subscribers may see a message twice, with the same id attribute.
//
// With PUBSUB_EMULATOR_HOST set, the client talks to the emulator.
package pubsubsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/listeners"
)

// Options configure a Pub/Sub sink.
type Options struct {
	// Project that owns the topic.
	Project string
	// Topic is the topic ID or its full name (projects/P/topics/T).
	Topic string
	// ClientOptions are passed to pubsub.NewClient (credentials, endpoint).
	ClientOptions []option.ClientOption
}

// Sink publishes events to a topic.
type Sink struct {
	client *pubsub.Client
	pub    *pubsub.Publisher
	topic  string
}

// New opens a client and a publisher for the topic. It does not check that
// the topic exists: a missing topic makes Send fail with NotFound, which the
// engine retries while logging the error.
func New(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Project == "" || opts.Topic == "" {
		return nil, errors.New("pubsub sink: project and topic are required")
	}
	c, err := pubsub.NewClient(ctx, opts.Project, opts.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("pubsub sink: client for project %s: %w", opts.Project, err)
	}
	p := c.Publisher(opts.Topic)
	p.EnableMessageOrdering = true
	p.PublishSettings.DelayThreshold = time.Millisecond
	return &Sink{client: c, pub: p, topic: p.String()}, nil
}

// Send publishes the batch and waits until every message is accepted.
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	results := make([]*pubsub.PublishResult, len(events))
	for i, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("pubsub sink: encode event %s: %w", ev.ID, err)
		}
		results[i] = s.pub.Publish(ctx, &pubsub.Message{
			Data:        data,
			OrderingKey: ev.Path,
			Attributes: map[string]string{
				"id": ev.ID, "type": string(ev.Type), "listener": ev.Listener, "path": ev.Path,
			},
		})
	}
	var first error
	failed := 0
	resumed := map[string]bool{}
	for i, r := range results {
		if _, err := r.Get(ctx); err != nil {
			failed++
			if first == nil {
				first = err
			}
			if k := events[i].Path; !resumed[k] {
				resumed[k] = true
				s.pub.ResumePublish(k)
			}
		}
	}
	if first != nil {
		return fmt.Errorf("pubsub sink: publish to %s: %d of %d messages failed: %w", s.topic, failed, len(events), first)
	}
	return nil
}

// Close flushes and stops the publisher and closes the client.
func (s *Sink) Close() error {
	s.pub.Stop()
	return s.client.Close()
}
