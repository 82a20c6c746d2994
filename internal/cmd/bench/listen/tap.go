package main

import (
	"context"
	"math"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// tap watches the Listen streams of one Firestore client from inside its
// gRPC connection, so that a listener's own work can be told apart from the
// emulator's:
//
//   - complete records, for each version a stream reported, when the SDK
//     read the message that made the snapshot holding it consistent (a
//     global NO_CHANGE with a read time): from then on the SDK can hand the
//     snapshot over, so anything later is the listener's own doing. It is
//     the moment the listener read the message, which is the moment it
//     arrived as long as the listener waits for it (keeps up).
//   - busy adds up the time the listener goroutine spent working rather
//     than waiting on the emulator: decoding Listen responses (timed in the
//     connection's codec) and everything between one Recv returning and the
//     next being called (the SDK building snapshots, the listener handling
//     them). Its share of the wall time is how much of the listener's
//     capacity the emulator's event rate used; on a busy machine it also
//     holds the time the goroutine was ready but not running.
//   - messages and docMessages count the Listen responses read, and those
//     carrying a document.
type tap struct {
	mu                    sync.Mutex
	complete              map[version]time.Time
	busy                  atomic.Int64 // ns
	messages, docMessages atomic.Int64
}

func newTap() *tap { return &tap{complete: map[version]time.Time{}} }

func (t *tap) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil || method != "/google.firestore.v1.Firestore/Listen" {
		return s, err
	}
	return &tapStream{ClientStream: s, t: t}, nil
}

type tapStream struct {
	grpc.ClientStream
	t        *tap
	returned time.Time // when the last RecvMsg returned
	pending  []version // changes not yet made consistent
}

func (s *tapStream) RecvMsg(m any) error {
	if !s.returned.IsZero() {
		s.t.busy.Add(int64(time.Since(s.returned)))
	}
	err := s.ClientStream.RecvMsg(m)
	now := time.Now()
	s.returned = now
	res, ok := m.(*pb.ListenResponse)
	if err != nil || !ok {
		return err
	}
	s.t.messages.Add(1)
	switch r := res.ResponseType.(type) {
	case *pb.ListenResponse_DocumentChange:
		s.t.docMessages.Add(1)
		if len(r.DocumentChange.TargetIds) > 0 {
			d := r.DocumentChange.Document
			s.pending = append(s.pending, version{path.Base(d.Name), d.UpdateTime.AsTime().UnixNano()})
		}
	case *pb.ListenResponse_TargetChange:
		tc := r.TargetChange
		if tc.TargetChangeType == pb.TargetChange_NO_CHANGE && len(tc.TargetIds) == 0 && tc.ReadTime != nil && len(s.pending) > 0 {
			s.t.mu.Lock()
			for _, v := range s.pending {
				if _, seen := s.t.complete[v]; !seen {
					s.t.complete[v] = now
				}
			}
			s.t.mu.Unlock()
			s.pending = s.pending[:0]
		}
	}
	return nil
}

// at returns when the snapshot holding v became complete.
func (t *tap) at(v version) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.complete[v]
	return at, ok
}

// timedCodec is the proto codec, timing the decoding of Listen responses
// into the tap's busy time.
type timedCodec struct {
	encoding.CodecV2
	t *tap
}

func (c timedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*pb.ListenResponse); !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	t0 := time.Now()
	err := c.CodecV2.Unmarshal(data, v)
	c.t.busy.Add(int64(time.Since(t0)))
	return err
}

// emulatorOwner authenticates to the emulator as the SDK does for itself.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorOwner) RequireTransportSecurity() bool { return false }

// tappedClient opens a Firestore client on the emulator over a connection
// of its own that t watches. The returned func closes both (closing the
// client again is harmless).
func tappedClient(ctx context.Context, project string, t *tap) (*firestore.Client, func(), error) {
	conn, err := grpc.NewClient(os.Getenv("FIRESTORE_EMULATOR_HOST"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorOwner{}),
		grpc.WithChainStreamInterceptor(t.intercept),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32),
			grpc.ForceCodecV2(timedCodec{encoding.GetCodecV2("proto"), t})))
	if err != nil {
		return nil, nil, err
	}
	c, err := firestore.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); conn.Close() }, nil
}
