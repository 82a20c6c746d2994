package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/stream"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// Reasons a subscription ends, besides its context.
var (
	// ErrSlowClient: the client did not take its messages fast enough and
	// its send queue filled up.
	ErrSlowClient error = &errs.Error{Kind: errs.ErrResourceLimit, Op: "watch",
		Cause: errors.New("slow client: the send queue is full; reconnect with the last position to resume")}
	// ErrTokenExpired: the caller's ID token expired during the stream.
	ErrTokenExpired error = &errs.Error{Kind: errs.ErrUnauthenticated, Op: "watch",
		Cause: errors.New("the ID token expired; reconnect with a fresh token and the last position")}
	// ErrShuttingDown: the server is stopping.
	ErrShuttingDown error = &errs.Error{Kind: errs.ErrUnavailable, Op: "watch",
		Cause: errors.New("the server is shutting down; reconnect with the last position")}
)

// Message types of a change stream.
const (
	MsgEvent  = "event"
	MsgResync = "resync"
)

// StreamMessage is one message of a change stream: an event, or a resync
// notice saying that the position asked for is gone, followed by the
// current documents as "added" events.
type StreamMessage struct {
	Type string `json:"type"`
	// Position identifies the stream's state after this message; pass the
	// last one received to resume after a reconnect.
	Position string           `json:"position,omitempty"`
	Event    *listeners.Event `json:"event,omitempty"`
	Reason   string           `json:"reason,omitempty"`

	data map[string]any // the event's document, for access checks
	raw  []byte         // the encoded message, shared by all subscribers
}

// JSON returns the message encoded as one JSON object.
func (m *StreamMessage) JSON() []byte {
	if m.raw != nil {
		return m.raw
	}
	b, _ := json.Marshal(m)
	return b
}

// Hub runs change streams: one Firestore listener per distinct query,
// shared by all its subscribers, with a buffer of recent events for
// clients that reconnect.
type Hub struct {
	client  *firestore.Client
	rules   *Rules
	cfg     WatchConfig
	log     *slog.Logger
	metrics *metrics

	subsPerUser *counts  // open subscriptions per user
	docsHeld    *weights // documents of all live queries (key "")

	mu     sync.Mutex
	topics map[string]*topic
	closed bool

	// tamper, in tests, alters the first snapshots of listen streams
	// before they are verified (stream.Options.Tamper).
	tamper func([]*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot
}

// NewHub returns a hub that listens with client.
func NewHub(client *firestore.Client, rules *Rules, cfg WatchConfig, log *slog.Logger, m *metrics) *Hub {
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	switch {
	case cfg.Watchdog == 0:
		cfg.Watchdog = 30 * time.Minute
	case cfg.Watchdog < 0:
		cfg.Watchdog = 0 // never
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxSubscriptionsPerUser == 0 {
		cfg.MaxSubscriptionsPerUser = 32
	}
	if cfg.MaxLiveQueries == 0 {
		cfg.MaxLiveQueries = 256
	}
	if cfg.MaxQueryDocuments == 0 {
		cfg.MaxQueryDocuments = 10000
	}
	if cfg.MaxDocumentsHeld == 0 {
		cfg.MaxDocumentsHeld = 50000
	}
	return &Hub{client: client, rules: rules, cfg: cfg, log: log, metrics: m, topics: map[string]*topic{},
		subsPerUser: newCounts(cfg.MaxSubscriptionsPerUser), docsHeld: newWeights(cfg.MaxDocumentsHeld)}
}

// Close ends every stream with ErrShuttingDown.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	ts := h.topics
	h.topics = map[string]*topic{}
	h.mu.Unlock()
	for _, t := range ts {
		t.stop(ErrShuttingDown)
	}
}

// Subscribe starts a change stream of the query for the caller, who needs
// the list operation on it. With resume "" the stream starts with the
// current documents as "added" events; with the position of a message
// received earlier, it continues after it if the hub still holds what
// followed, and otherwise starts with a resync message and the current
// documents.
func (h *Hub) Subscribe(ctx context.Context, c *Caller, q QuerySpec, resume string) (*Subscription, error) {
	return h.subscribe(ctx, c, q, resume, -1)
}

// subscribe is Subscribe with the query's document count when the caller
// already has it (exact, and at most watch.max_query_documents), or -1:
// a new live query is then counted here, before listening.
func (h *Hub) subscribe(ctx context.Context, c *Caller, q QuerySpec, resume string, counted int64) (*Subscription, error) {
	s := &Store{client: h.client, rules: h.rules}
	rq, g, err := s.query(c, q)
	if err != nil {
		return nil, err
	}
	if q.Limit > 0 || len(q.Select) > 0 {
		return nil, errs.New(errs.ErrInvalid, "watch", q.Collection, "limit and select are not supported on change streams")
	}
	key, err := topicKey(normalizeSpec(q), g, c)
	if err != nil {
		return nil, err
	}
	release, ok := h.subsPerUser.acquire(c.UID)
	if !ok {
		return nil, h.overLimit(limitSubscriptionsPerUser, errs.ErrResourceLimit, q.Collection,
			"too many open subscriptions for this user (at most %d: watch.max_subscriptions_per_user)", h.cfg.MaxSubscriptionsPerUser)
	}
	h.mu.Lock()
	known := h.topics[key] != nil
	h.mu.Unlock()
	held := max(counted, 0) // the new query's documents, charged to docsHeld
	if max := h.cfg.MaxQueryDocuments; !known && max > 0 && counted < 0 {
		// A new live query holds every matching document: refuse one over
		// the budget before listening (the listener would fetch them all).
		n, err := rq.Limit(max + 1).Count(ctx)
		if err == nil && n > int64(max) {
			release()
			return nil, h.tooManyDocuments(q.Collection)
		}
		if err == nil {
			held = n
		}
	}
	var t *topic
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			release()
			return nil, errs.New(errs.ErrUnavailable, "watch", q.Collection, "%v", ErrShuttingDown)
		}
		t = h.topics[key]
		if t == nil {
			if max := h.cfg.MaxLiveQueries; max > 0 && len(h.topics) >= max && !h.evictIdleLocked() {
				h.mu.Unlock()
				release()
				return nil, h.overLimit(limitLiveQueries, errs.ErrResourceLimit, q.Collection,
					"the server listens to its maximum of %d distinct queries (watch.max_live_queries): retry later, or subscribe to a query others use", max)
			}
			relHeld, ok := h.holdLocked(held)
			if !ok {
				h.mu.Unlock()
				release()
				return nil, h.overLimit(limitDocumentsHeld, errs.ErrResourceLimit, q.Collection,
					"the server's live queries hold their maximum of %d documents (watch.max_documents_held): retry later, or subscribe to a query others use", h.cfg.MaxDocumentsHeld)
			}
			t = h.newTopic(key, rq.Raw(), g.Owner != "")
			t.held = relHeld
			go func() { <-t.done; relHeld() }()
			h.topics[key] = t
		}
		t.mu.Lock()
		if !t.stopped {
			t.pending++ // keeps it from lingering out while we wait
			t.mu.Unlock()
			h.mu.Unlock()
			break
		}
		t.mu.Unlock()
		delete(h.topics, key)
		h.mu.Unlock()
	}
	sub := &Subscription{hub: h, topic: t, caller: c, grant: g, ch: make(chan *StreamMessage, h.cfg.SendQueue), done: make(chan struct{}), release: release}
	if !c.Expires.IsZero() {
		sub.expiryMu.Lock()
		sub.expiry = time.AfterFunc(time.Until(c.Expires), func() { sub.end(ErrTokenExpired) })
		sub.expiryMu.Unlock()
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		t.release()
		sub.Close()
		return nil, errs.Wrap(ctx.Err(), "watch", q.Collection)
	case <-t.done:
		t.release()
		sub.Close()
		h.mu.Lock()
		if h.topics[key] == t {
			delete(h.topics, key)
		}
		h.mu.Unlock()
		t.mu.Lock()
		err := t.err
		t.mu.Unlock()
		if errs.KindOf(err) == errs.ErrInternal {
			return nil, errs.New(errs.ErrUnavailable, "watch", q.Collection, "%v", err)
		}
		return nil, classify(err, "watch", q.Collection)
	}
	t.join(sub, resume)
	if h.metrics != nil {
		h.metrics.subscriptions.Inc()
	}
	return sub, nil
}

// tooManyDocuments refuses a live query over watch.max_query_documents.
func (h *Hub) tooManyDocuments(target string) error {
	return h.overLimit(limitQueryDocuments, errs.ErrInvalid, target,
		"the query matches more than %d documents (watch.max_query_documents): narrow it with where clauses to stream it", h.cfg.MaxQueryDocuments)
}

// holdLocked charges n documents to the server's budget of documents
// held, dropping lingering topics to make room; false when they do not
// make enough. h.mu held.
func (h *Hub) holdLocked(n int64) (func(), bool) {
	for {
		if rel, _, ok := h.docsHeld.acquire("", n); ok {
			return rel, true
		}
		if !h.evictIdleLocked() {
			return nil, false
		}
	}
}

// evictIdleLocked stops the topic that has lingered without subscribers
// the longest, to make room for a new one; false when every topic is in
// use. h.mu held.
func (h *Hub) evictIdleLocked() bool {
	var victim *topic
	var since time.Time
	for _, t := range h.topics {
		t.mu.Lock()
		idle := len(t.subs) == 0 && t.pending == 0 && !t.stopped
		at := t.idleSince
		t.mu.Unlock()
		if idle && (victim == nil || at.Before(since)) {
			victim, since = t, at
		}
	}
	if victim == nil {
		return false
	}
	delete(h.topics, victim.key)
	victim.stop(nil)
	if victim.held != nil {
		victim.held() // now, not when its listener has wound down
	}
	return true
}

// normalizeSpec spells equivalent queries alike, so that they share one
// listener: values in their canonical encoding ({"$int":"5"} and 5 are
// the same integer), the clauses of where and of or sorted and without
// repeats (both are commutative), directions lower case with asc explicit.
func normalizeSpec(q QuerySpec) QuerySpec {
	q.Collection = strings.Trim(q.Collection, "/")
	norm := func(fs []Filter) []Filter {
		if len(fs) == 0 {
			return nil
		}
		out := make([]Filter, 0, len(fs))
		seen := map[string]bool{}
		for _, f := range fs {
			if v, err := value.Decode(f.Value); err == nil {
				if enc, err := value.Encode(v); err == nil {
					f.Value = enc
				}
			}
			k := f.Field + "\x00" + f.Op + "\x00" + string(f.Value)
			if !seen[k] {
				seen[k] = true
				out = append(out, f)
			}
		}
		slices.SortFunc(out, func(a, b Filter) int {
			return strings.Compare(a.Field+"\x00"+a.Op+"\x00"+string(a.Value), b.Field+"\x00"+b.Op+"\x00"+string(b.Value))
		})
		return out
	}
	q.Where, q.Or = norm(q.Where), norm(q.Or)
	if len(q.OrderBy) > 0 {
		ob := make([]Order, len(q.OrderBy))
		for i, o := range q.OrderBy {
			o.Direction = strings.ToLower(o.Direction)
			if o.Direction == "" {
				o.Direction = "asc"
			}
			ob[i] = o
		}
		q.OrderBy = ob
	}
	return q
}

// topicKey identifies the effective query: what was asked, narrowed to
// the caller when the rule has an owner field.
func topicKey(q QuerySpec, g Grant, c *Caller) (string, error) {
	type key struct {
		Q     QuerySpec
		Owner string
		UID   string
	}
	k := key{Q: q, Owner: g.Owner}
	if g.Owner != "" {
		k.UID = c.UID
	}
	b, err := json.Marshal(k)
	return string(b), err
}

func (h *Hub) newTopic(key string, q firestore.Query, ownerRule bool) *topic {
	ctx, cancel := context.WithCancel(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	t := &topic{hub: h, key: key, epoch: hex.EncodeToString(b), query: q, cancel: cancel, ownerRule: ownerRule,
		ready: make(chan struct{}), done: make(chan struct{}),
		state: map[string]*StreamMessage{}, subs: map[*Subscription]struct{}{}}
	go t.run(ctx)
	return t
}

// topic is one shared Firestore listener and its subscribers.
type topic struct {
	hub    *Hub
	key    string
	epoch  string
	query  firestore.Query
	cancel context.CancelFunc
	ready  chan struct{} // closed after the first snapshot
	done   chan struct{} // closed when the topic stopped
	held   func()        // gives back its charge to the hub's documents held (set under hub.mu)
	// ownerRule: its subscribers see only their own documents, so events
	// keep the decoded data for the owner checks (otherwise they do not).
	ownerRule bool

	mu        sync.Mutex
	seq       uint64
	state     map[string]*StreamMessage // current documents, by path
	buf       []*StreamMessage          // recent events, oldest first
	subs      map[*Subscription]struct{}
	pending   int
	linger    *time.Timer
	idleSince time.Time // when the last subscriber left
	stopped   bool
	err       error
}

func (t *topic) position(seq uint64) string {
	return t.epoch + "." + strconv.FormatUint(seq, 10)
}

func (t *topic) run(ctx context.Context) {
	defer close(t.done)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := true
	var stopErr error
	err := stream.Run(runCtx, stream.Options{
		Client: t.hub.client, Query: t.query, Verify: stream.Verify(t.hub.cfg.Verify), Watchdog: t.hub.cfg.Watchdog,
		Log: t.hub.log, Permanent: retry.Permanent, Tamper: t.hub.tamper,
		Restarted: func(reason string) {
			if t.hub.metrics != nil {
				t.hub.metrics.reopened.WithLabelValues(reason).Inc()
			}
		},
	}, func(_ context.Context, s *stream.Snapshot) error {
		if err := t.apply(s); err != nil {
			// Over watch.max_query_documents: the query is dropped and
			// its subscribers told why.
			stopErr = err
			cancel()
			return err
		}
		if first {
			first = false
			close(t.ready)
		}
		return nil
	})
	switch {
	case stopErr != nil:
		t.hub.mu.Lock()
		if t.hub.topics[t.key] == t {
			delete(t.hub.topics, t.key)
		}
		t.hub.mu.Unlock()
		t.stop(stopErr)
	case err != nil:
		// A query the backend refuses will not get better.
		t.mu.Lock()
		t.err = errs.Wrap(err, "watch", "query")
		t.mu.Unlock()
	default:
		t.mu.Lock()
		if t.err == nil {
			t.err = ErrShuttingDown
		}
		t.mu.Unlock()
	}
}

// apply turns a verified snapshot (internal/stream) into events. The
// first snapshot of a (re)opened stream is diffed against the known state,
// so a reopened stream emits exactly what changed meanwhile. A version
// older than the known one is stale (a reopened stream on the emulator can
// report one) and ignored; the event type comes from the known state, so
// an event ID always carries one type.
func (t *topic) apply(snap *stream.Snapshot) error {
	max := t.hub.cfg.MaxQueryDocuments
	if max > 0 && snap.Size > max {
		return t.hub.tooManyDocuments("query")
	}
	var evs []*StreamMessage
	readTime := snap.ReadTime
	upsert := func(d *firestore.DocumentSnapshot) {
		t.mu.Lock()
		old := t.state[relPath(d.Ref)]
		t.mu.Unlock()
		switch {
		case old == nil:
			evs = append(evs, t.event(listeners.Added, d, nil, readTime))
		case old.Event.UpdateTime.Before(d.UpdateTime):
			evs = append(evs, t.event(listeners.Modified, d, nil, readTime))
		}
	}
	fresh := snap.First
	if fresh {
		seen := make(map[string]bool, len(snap.Docs))
		for _, d := range snap.Docs {
			seen[relPath(d.Ref)] = true
			upsert(d)
		}
		t.mu.Lock()
		var gone []*StreamMessage
		for p, old := range t.state {
			if !seen[p] {
				gone = append(gone, old)
			}
		}
		t.mu.Unlock()
		for _, old := range gone {
			evs = append(evs, t.removed(old, readTime))
		}
	} else {
		for _, ch := range snap.Changes {
			if ch.Kind != firestore.DocumentRemoved {
				upsert(ch.Doc)
				continue
			}
			t.mu.Lock()
			old := t.state[relPath(ch.Doc.Ref)]
			t.mu.Unlock()
			if old == nil {
				old = t.event(listeners.Added, ch.Doc, nil, readTime)
			}
			evs = append(evs, t.removed(old, readTime))
		}
	}
	t.publish(evs, fresh && !t.isReady())
	return nil
}

func (t *topic) isReady() bool {
	select {
	case <-t.ready:
		return true
	default:
		return false
	}
}

func (t *topic) event(typ listeners.EventType, d *firestore.DocumentSnapshot, _ any, readTime time.Time) *StreamMessage {
	data := d.Data()
	enc, err := value.EncodeMap(data)
	if err != nil {
		t.hub.log.Error("cannot encode a document; sending it without data", "path", relPath(d.Ref), "error", err)
	}
	p := relPath(d.Ref)
	if !t.ownerRule {
		data = nil // only owner checks read it: not kept for every document
	}
	return &StreamMessage{Type: MsgEvent, data: data, Event: &listeners.Event{
		ID: listeners.EventID(p, d.UpdateTime, false), Type: typ, Listener: "serve", Path: p,
		Data: enc, CreateTime: d.CreateTime, UpdateTime: d.UpdateTime, ReadTime: readTime,
	}}
}

func (t *topic) removed(old *StreamMessage, readTime time.Time) *StreamMessage {
	ev := *old.Event
	ev.ID = listeners.EventID(ev.Path, ev.UpdateTime, true)
	ev.Type = listeners.Removed
	ev.CreateTime = time.Time{}
	ev.Data = nil
	ev.ReadTime = readTime
	return &StreamMessage{Type: MsgEvent, Event: &ev, data: old.data}
}

// publish records events and fans them out. initial marks the topic's
// very first snapshot, which only sets the state (subscribers get the
// state when they join).
func (t *topic) publish(evs []*StreamMessage, initial bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	max := t.hub.cfg.ResumeBuffer
	for _, m := range evs {
		if m.Event.Type == listeners.Removed {
			delete(t.state, m.Event.Path)
		} else {
			t.state[m.Event.Path] = m
		}
		if initial {
			continue
		}
		t.seq++
		m.Position = t.position(t.seq)
		m.raw, _ = json.Marshal(m)
		if max > 0 {
			if len(t.buf) >= max {
				copy(t.buf, t.buf[1:])
				t.buf = t.buf[:len(t.buf)-1]
			}
			t.buf = append(t.buf, m)
		}
		for sub := range t.subs {
			sub.offer(m)
		}
	}
}

// join adds a subscriber: its first messages are what it missed since
// resume, or a resync notice and the current documents.
func (t *topic) join(sub *Subscription, resume string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	if t.linger != nil {
		t.linger.Stop()
		t.linger = nil
	}
	var backlog []*StreamMessage
	replayed := false
	if resume != "" {
		if seq, ok := t.resumable(resume); ok {
			for _, m := range t.buf {
				if parseSeq(m.Position) > seq {
					backlog = append(backlog, m)
				}
			}
			replayed = true
		} else {
			backlog = append(backlog, &StreamMessage{Type: MsgResync,
				Reason: "the position is no longer held by the server (too old, another query, or the server restarted): the current documents follow as added events"})
		}
	}
	if !replayed {
		// The current documents, as added events. Only the last carries
		// the position: a client cut off in the middle of the burst has
		// no position from it, and starts over rather than miss the rest.
		for _, m := range t.state {
			ev := *m.Event
			ev.Type = listeners.Added
			backlog = append(backlog, &StreamMessage{Type: MsgEvent, Event: &ev, data: m.data})
		}
		if n := len(backlog); n > 0 && backlog[n-1].Type == MsgEvent {
			backlog[n-1].Position = t.position(t.seq)
		}
	}
	sub.backlog = backlog
	t.subs[sub] = struct{}{}
}

// resumable reports whether the events after position are all in the
// buffer.
func (t *topic) resumable(position string) (uint64, bool) {
	epoch, _, ok := strings.Cut(position, ".")
	if !ok || epoch != t.epoch {
		return 0, false
	}
	seq := parseSeq(position)
	if seq > t.seq {
		return 0, false
	}
	oldest := t.seq + 1 // nothing buffered: only the current position works
	if len(t.buf) > 0 {
		oldest = parseSeq(t.buf[0].Position)
	}
	return seq, seq+1 >= oldest
}

func parseSeq(position string) uint64 {
	_, s, _ := strings.Cut(position, ".")
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// release undoes a pending join.
func (t *topic) release() {
	t.mu.Lock()
	t.pending--
	t.maybeLinger()
	t.mu.Unlock()
}

func (t *topic) leave(sub *Subscription) {
	t.mu.Lock()
	if _, ok := t.subs[sub]; ok {
		delete(t.subs, sub)
		if t.hub.metrics != nil {
			t.hub.metrics.subscriptions.Dec()
		}
	}
	t.maybeLinger()
	t.mu.Unlock()
}

// maybeLinger schedules the topic's end when nobody uses it. t.mu held.
func (t *topic) maybeLinger() {
	if len(t.subs) > 0 || t.pending > 0 || t.stopped || t.linger != nil {
		return
	}
	t.idleSince = time.Now()
	t.linger = time.AfterFunc(t.hub.cfg.Linger, func() {
		t.hub.mu.Lock()
		t.mu.Lock()
		idle := len(t.subs) == 0 && t.pending == 0 && !t.stopped
		if idle && t.hub.topics[t.key] == t {
			delete(t.hub.topics, t.key)
		}
		t.mu.Unlock()
		t.hub.mu.Unlock()
		if idle {
			t.stop(nil)
		}
	})
}

func (t *topic) stop(reason error) {
	t.mu.Lock()
	t.stopped = true
	if reason != nil {
		t.err = reason
	}
	subs := make([]*Subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	t.cancel()
	for _, s := range subs {
		s.end(reason)
	}
}

// Subscription is one client's change stream. Read it with Next; Close it
// when done.
type Subscription struct {
	hub      *Hub
	topic    *topic
	caller   *Caller
	grant    Grant
	expiryMu sync.Mutex
	expiry   *time.Timer // guarded by expiryMu: it may fire before it is stored

	backlog []*StreamMessage // sent before ch; touched only by Next after join
	ch      chan *StreamMessage
	release func() // the user's subscription slot

	dropping atomic.Bool
	once     sync.Once
	done     chan struct{}
	err      error
}

// offer queues a message for the subscriber without blocking; a full queue
// ends the subscription with ErrSlowClient. t.mu held.
func (s *Subscription) offer(m *StreamMessage) {
	if !s.allowed(m) {
		return
	}
	select {
	case s.ch <- m:
	default:
		if s.dropping.CompareAndSwap(false, true) {
			go s.end(ErrSlowClient)
		}
	}
}

// allowed applies the access rule to one event.
func (s *Subscription) allowed(m *StreamMessage) bool {
	return m.Type != MsgEvent || s.grant.ownerOK(s.caller, m.data)
}

// Next returns the next message, blocking until there is one. It returns
// the reason when the subscription ended (ErrSlowClient, ErrTokenExpired,
// ErrShuttingDown, or ctx's error).
func (s *Subscription) Next(ctx context.Context) (*StreamMessage, error) {
	for len(s.backlog) > 0 {
		m := s.backlog[0]
		s.backlog[0] = nil
		s.backlog = s.backlog[1:]
		if s.allowed(m) {
			return m, nil
		}
	}
	select {
	case <-s.done:
		return nil, s.err
	default:
	}
	select {
	case m := <-s.ch:
		return m, nil
	case <-s.done:
		return nil, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Done is closed when the subscription ended; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the subscription ended, nil while it runs or after Close.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Queued is how many messages wait in the send queue.
func (s *Subscription) Queued() int { return len(s.ch) }

func (s *Subscription) end(reason error) {
	s.once.Do(func() {
		s.err = reason
		if reason == nil {
			s.err = errors.New("subscription closed")
		}
		s.expiryMu.Lock()
		t := s.expiry
		s.expiryMu.Unlock()
		if t != nil {
			t.Stop()
		}
		close(s.done)
		if s.release != nil {
			s.release()
		}
		if errors.Is(reason, ErrSlowClient) && s.hub.metrics != nil {
			s.hub.metrics.dropped.Inc()
		}
		if s.topic != nil {
			go s.topic.leave(s)
		}
	})
}

// Close ends the subscription.
func (s *Subscription) Close() { s.end(nil) }

// String describes the subscription for logs.
func (s *Subscription) String() string {
	return fmt.Sprintf("subscription of %s to %s", s.caller.UID, s.topic.key)
}
