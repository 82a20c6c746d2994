// Package faults injects failures into a gRPC client connection, for
// tests of what the engines promise under faults: a status code (such as
// RESOURCE_EXHAUSTED, UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED) returned
// at a set rate, before a call reaches the server or after it was served
// (the answer lost: the worst case for writes), and mid-stream for server
// streams. Network faults (latency, resets, stalls) are another layer's;
// these are the backend's refusals as the client sees them.
package faults

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Config says what to inject.
type Config struct {
	// Code is the status code of the injected failures.
	Code codes.Code
	// Rate is the probability that a unary call fails (the failures
	// alternate: after the server served the call, then before it is
	// sent), and that a server stream fails as it is opened.
	Rate float64
	// StreamRate is the probability that a stream fails at each message
	// it receives; default Rate/50.
	StreamRate float64
	// Methods, when set, limits the faults to methods whose full name
	// contains one of these ("Commit", "BatchWrite", "RunQuery").
	Methods []string
	// Seed makes the faults repeatable.
	Seed uint64
	// Leading is how many of the first unary calls fail whatever the
	// roll, so that a short test sees both kinds of unary failure.
	Leading int
}

// Injector injects the faults of one Config into the connections dialled
// with its DialOptions.
type Injector struct {
	cfg      Config
	mu       sync.Mutex
	rng      *rand.Rand
	injected atomic.Int64
	after    atomic.Int64
	// unaryCalls counts the unary calls; unaryFaults those picked to fail.
	unaryCalls, unaryFaults atomic.Int64
}

// New returns an Injector for cfg.
func New(cfg Config) *Injector {
	if cfg.StreamRate == 0 {
		cfg.StreamRate = cfg.Rate / 50
	}
	return &Injector{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
}

// Injected returns how many failures were injected, and how many of them
// after the server had served the call.
func (in *Injector) Injected() (total, afterServed int64) { return in.injected.Load(), in.after.Load() }

// DialOptions are the interceptors to add to a connection.
func (in *Injector) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(in.unary), grpc.WithChainStreamInterceptor(in.stream)}
}

func (in *Injector) roll(p float64) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.Float64() < p
}

func (in *Injector) applies(method string) bool {
	if len(in.cfg.Methods) == 0 {
		return true
	}
	for _, m := range in.cfg.Methods {
		if strings.Contains(method, m) {
			return true
		}
	}
	return false
}

func (in *Injector) fail(method, when string) error {
	in.injected.Add(1)
	return status.Errorf(in.cfg.Code, "injected fault (%s %s)", method, when)
}

func (in *Injector) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if !in.applies(method) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	if in.unaryCalls.Add(1) > int64(in.cfg.Leading) && !in.roll(in.cfg.Rate) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	// Alternate, starting after: half of the failures each way, and a
	// test that sees any unary failure sees one of each kind it can.
	if in.unaryFaults.Add(1)%2 == 0 {
		return in.fail(method, "before sending")
	}
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return err
	}
	in.after.Add(1)
	return in.fail(method, "after it was served")
}

func (in *Injector) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if !in.applies(method) {
		return streamer(ctx, desc, cc, method, opts...)
	}
	if in.roll(in.cfg.Rate) {
		return nil, in.fail(method, "as the stream opened")
	}
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &faultyStream{ClientStream: s, in: in, method: method}, nil
}

type faultyStream struct {
	grpc.ClientStream
	in     *Injector
	method string
	broken error
}

func (s *faultyStream) RecvMsg(m any) error {
	if s.broken != nil {
		return s.broken
	}
	if s.in.roll(s.in.cfg.StreamRate) {
		s.broken = s.in.fail(s.method, "mid-stream")
		return s.broken
	}
	return s.ClientStream.RecvMsg(m)
}
