package auth

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// CacheOptions tune a [CachedVerifier].
type CacheOptions struct {
	// TTL bounds how long a verification is reused; a token is never
	// reused past its own expiry. Default 1 minute. A revoked token or a
	// disabled user is noticed at most TTL late, so keep it short when
	// revocation matters.
	TTL time.Duration
	// MaxEntries bounds the cache; default 10000.
	MaxEntries int
	// Now returns the current time; default time.Now (for tests).
	Now func() time.Time
}

// CachedVerifier remembers successful verifications for a short while, so
// a server that sees the same ID token on every request of a session does
// not verify it (and, in emulator mode or with CheckRevoked, look the
// user up) each time. Failures are never cached. Tokens are kept as
// SHA-256 hashes, never in clear. It is safe for concurrent use.
type CachedVerifier struct {
	next Verifier
	opts CacheOptions

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	sum          [sha256.Size]byte
	checkRevoked bool
}

type cacheEntry struct {
	tok     *Token
	expires time.Time
}

// NewCachedVerifier wraps v with a cache.
func NewCachedVerifier(v Verifier, opts CacheOptions) *CachedVerifier {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CachedVerifier{next: v, opts: opts, entries: map[cacheKey]cacheEntry{}}
}

// VerifyIDToken returns the cached verification of idToken, or verifies it
// with the wrapped Verifier and caches the result. The returned token's
// Claims map is shared with the cache: read it, do not modify it.
func (c *CachedVerifier) VerifyIDToken(ctx context.Context, idToken string, opts ...VerifyOptions) (*Token, error) {
	key := cacheKey{sum: sha256.Sum256([]byte(idToken)), checkRevoked: checkRevoked(opts)}
	now := c.opts.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && now.Before(e.expires) {
		c.mu.Unlock()
		return copyToken(e.tok), nil
	}
	if ok {
		delete(c.entries, key)
	}
	c.mu.Unlock()

	tok, err := c.next.VerifyIDToken(ctx, idToken, opts...)
	if err != nil {
		return nil, err
	}
	expires := now.Add(c.opts.TTL)
	if tok.Expires > 0 {
		if exp := time.Unix(tok.Expires, 0); exp.Before(expires) {
			expires = exp
		}
	}
	c.mu.Lock()
	if len(c.entries) >= c.opts.MaxEntries {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{tok: copyToken(tok), expires: expires}
	c.mu.Unlock()
	return tok, nil
}

// evict drops expired entries, and if none was, an arbitrary tenth of the
// cache. c.mu held.
func (c *CachedVerifier) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.opts.MaxEntries*9/10 {
			break
		}
		delete(c.entries, k)
	}
}

// Len is the number of cached verifications.
func (c *CachedVerifier) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// copyToken copies a token's fields; its Claims map is shared with the
// cache and must not be modified.
func copyToken(t *Token) *Token {
	out := *t
	return &out
}
