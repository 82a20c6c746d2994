package listeners

import (
	"context"
	"sync"

	"cloud.google.com/go/firestore"
)

// clientPool shares Firestore clients among listeners, per streams per
// client.
type clientPool struct {
	mu     sync.Mutex
	per    int
	open   func(ctx context.Context, project, database string) (*firestore.Client, error)
	groups map[[2]string][]*pooledClient
}

type pooledClient struct {
	c *firestore.Client
	n int
}

func (p *clientPool) acquire(ctx context.Context, project, database string) (*firestore.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]string{project, database}
	for _, pc := range p.groups[k] {
		if pc.n < p.per {
			pc.n++
			return pc.c, nil
		}
	}
	c, err := p.open(ctx, project, database)
	if err != nil {
		return nil, err
	}
	p.groups[k] = append(p.groups[k], &pooledClient{c: c, n: 1})
	return c, nil
}

func (p *clientPool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.groups {
		n += len(g)
	}
	return n
}

func (p *clientPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.groups {
		for _, pc := range g {
			pc.c.Close()
		}
	}
	p.groups = map[[2]string][]*pooledClient{}
}
