package transfer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Shard is one of N disjoint parts of a job, so that N processes (the
// tasks of a Kubernetes Indexed Job or a Cloud Run job) share it. The zero
// value is the whole job.
type Shard struct {
	K, N int // part K of N, from 0
}

// Whole reports whether s is the whole job (no sharding).
func (s Shard) Whole() bool { return s.N <= 1 }

func (s Shard) String() string {
	if s.Whole() {
		return "whole"
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// MaxShards bounds N: each shard plans N times its parallelism of ranges.
const MaxShards = 1000

// ParseShard reads a shard argument: "K/N" (part K of N, from 0), or
// "auto", which takes the task's index and count from the environment of
// a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count given as
// shards since the pod does not see it) or of a Cloud Run job
// (CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT). "" is the whole job.
func ParseShard(arg string, shards int, getenv func(string) string) (Shard, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	bad := func(format string, args ...any) (Shard, error) {
		return Shard{}, errs.New(errs.ErrInvalid, "shard", arg, format, args...)
	}
	var k, n int
	switch {
	case arg == "":
		return Shard{}, nil
	case arg == "auto":
		switch {
		case getenv("CLOUD_RUN_TASK_INDEX") != "":
			var err1, err2 error
			k, err1 = strconv.Atoi(getenv("CLOUD_RUN_TASK_INDEX"))
			n, err2 = strconv.Atoi(getenv("CLOUD_RUN_TASK_COUNT"))
			if err1 != nil || err2 != nil {
				return bad("CLOUD_RUN_TASK_INDEX=%q and CLOUD_RUN_TASK_COUNT=%q: want two integers", getenv("CLOUD_RUN_TASK_INDEX"), getenv("CLOUD_RUN_TASK_COUNT"))
			}
		case getenv("JOB_COMPLETION_INDEX") != "":
			var err error
			if k, err = strconv.Atoi(getenv("JOB_COMPLETION_INDEX")); err != nil {
				return bad("JOB_COMPLETION_INDEX=%q: want an integer", getenv("JOB_COMPLETION_INDEX"))
			}
			if n = shards; n < 1 {
				return bad("in a Kubernetes Indexed Job, give the job's completions with --shards N (the pod sees only its index)")
			}
		default:
			return bad("no task index in the environment: want CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT (Cloud Run jobs) or JOB_COMPLETION_INDEX and --shards N (Kubernetes Indexed Jobs); or give --shard K/N")
		}
	default:
		ks, ns, ok := strings.Cut(arg, "/")
		var err1, err2 error
		k, err1 = strconv.Atoi(ks)
		n, err2 = strconv.Atoi(ns)
		if !ok || err1 != nil || err2 != nil {
			return bad("want K/N (part K of N, counted from 0, such as 0/4) or auto")
		}
	}
	switch {
	case n < 1 || n > MaxShards:
		return bad("%d shards: want 1 to %d", n, MaxShards)
	case k < 0 || k >= n:
		return bad("shard %d of %d: want 0 to %d", k, n, n-1)
	}
	return Shard{K: k, N: n}, nil
}

// pick returns the shard's part of a plan's scans: a contiguous block of
// about len(scans)/N. Every shard plans the same scans (same read time,
// same database state), so the blocks are disjoint and cover the plan.
func (s Shard) pick(scans []scan) []scan {
	if s.Whole() {
		return scans
	}
	return scans[s.K*len(scans)/s.N : (s.K+1)*len(scans)/s.N]
}

// checkShard refuses a sharded job without a read time: shards planning at
// different times could cut the data differently, and leave gaps or
// overlaps between them.
func checkShard(op string, s Shard, readTime time.Time) error {
	if !s.Whole() && readTime.IsZero() {
		return errs.New(errs.ErrInvalid, op, s.String(), "a sharded job needs a read time shared by every shard (--read-time), so that they all cut the data the same way")
	}
	return nil
}

// shardParts is how many ranges each shard's plan is cut into: enough that
// the blocks of the shards come out even.
func shardParts(s Shard, parallel int) int {
	if s.Whole() {
		return parallel
	}
	return s.N * max(parallel, 4)
}

// evenNames returns about n document names spread evenly over the
// documents of a collection (its own, not its subcollections'), read with
// a count and one names-only scan. Sharded jobs plan with it on the
// emulator, which cannot read a collection's last name, so that ranges of
// a large collection hold about as many documents each.
func (db *DB) evenNames(ctx context.Context, collRel string, readTime time.Time, n int) ([]string, int64, error) {
	parent, id := splitParent(collRel)
	s := scan{parent: db.full(parent), collection: id}
	total, err := db.count(ctx, s, readTime)
	if err != nil || total == 0 {
		return nil, total, err
	}
	step := max(1, (total+int64(n)-1)/int64(max(n, 1)))
	var names []string
	var i int64
	err = db.run(ctx, s, scanOptions{readTime: readTime, namesOnly: true}, func(d *pb.Document) error {
		if i%step == 0 {
			names = append(names, d.GetName())
		}
		i++
		return nil
	})
	slices.SortFunc(names, cmpName)
	return names, total, err
}
