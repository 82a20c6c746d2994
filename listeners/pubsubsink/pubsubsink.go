// Package pubsubsink is the [listeners.Sink] that publishes each event as one
// Google Cloud Pub/Sub message.
//
// # Messages
//
// The message data is the event's JSON (the format of [listeners.Event]);
// the attributes repeat its id, type, listener and path so subscribers can
// filter without parsing. The ordering key is the document path, so a
// subscription with message ordering enabled receives each document's
// changes in order.
//
// # Delivery
//
// Send publishes the batch in as few Publish calls as Pub/Sub's request
// limits allow, one after the other, and returns once Pub/Sub has accepted
// every message: the messages of one document keep their order. When a
// call fails, Send returns the error and the engine resends the whole
// batch, so subscribers may see a message twice, with the same id
// attribute.
//
// The sink calls the Publish RPC directly (cloud.google.com/go/pubsub/v2/apiv1)
// rather than through the package's batching Publisher, which the engine's
// own batches make redundant and which would bring a second telemetry stack
// into every fbadmin command's start-up. With PUBSUB_EMULATOR_HOST set, the
// client talks to the emulator.
package pubsubsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/listeners"
)

// Options configure a Pub/Sub sink.
type Options struct {
	// Project that owns the topic.
	Project string
	// Topic is the topic ID or its full name (projects/P/topics/T).
	Topic string
	// ClientOptions are passed to the Pub/Sub client (credentials, endpoint).
	ClientOptions []option.ClientOption
}

// Sink publishes events to a topic.
type Sink struct {
	client *vkit.TopicAdminClient
	topic  string
}

// Pub/Sub's limits on one Publish request: 1,000 messages and 10 MB
// (leaving room for the request's own framing).
const (
	maxRequestMessages = 1000
	maxRequestBytes    = 9 << 20
)

// New opens a client for the topic. It does not check that the topic
// exists: a missing topic makes Send fail with NotFound, which the engine
// retries while logging the error.
func New(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Project == "" || opts.Topic == "" {
		return nil, errors.New("pubsub sink: project and topic are required")
	}
	c, err := vkit.NewTopicAdminClient(ctx, opts.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("pubsub sink: client for project %s: %w", opts.Project, err)
	}
	topic := opts.Topic
	if len(strings.Split(topic, "/")) != 4 {
		topic = "projects/" + opts.Project + "/topics/" + topic
	}
	return &Sink{client: c, topic: topic}, nil
}

// Send publishes the batch and waits until every message is accepted.
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var msgs []*pubsubpb.PubsubMessage
	size := 0
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if _, err := s.client.Publish(ctx, &pubsubpb.PublishRequest{Topic: s.topic, Messages: msgs}); err != nil {
			return fmt.Errorf("pubsub sink: publish to %s: %d of %d messages failed: %w", s.topic, len(msgs), len(events), err)
		}
		msgs, size = nil, 0
		return nil
	}
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("pubsub sink: encode event %s: %w", ev.ID, err)
		}
		m := &pubsubpb.PubsubMessage{
			Data:        data,
			OrderingKey: ev.Path,
			Attributes: map[string]string{
				"id": ev.ID, "type": string(ev.Type), "listener": ev.Listener, "path": ev.Path,
			},
		}
		n := proto.Size(m) + 8 // with its field tag and length
		if len(msgs) == maxRequestMessages || (len(msgs) > 0 && size+n > maxRequestBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		msgs = append(msgs, m)
		size += n
	}
	return flush()
}

// Close closes the client.
func (s *Sink) Close() error {
	return s.client.Close()
}
