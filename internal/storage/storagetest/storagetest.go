// Package storagetest runs a fake Cloud Storage (fsouza/fake-gcs-server)
// and a fake S3 (johannesboyne/gofakes3) in process, on real local
// listeners, for tests and benchmarks of code that uses internal/storage.
//
// # Denied buckets
//
// Both fakes answer 403 to every request on a bucket named [DeniedBucket],
// as a real service does for credentials without access, so that tests can
// check how refused access is reported.
package storagetest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// DeniedBucket is the bucket both fakes refuse access to.
const DeniedBucket = "denied"

// GCS is a running fake Cloud Storage server.
type GCS struct {
	// Host is the host:port to set STORAGE_EMULATOR_HOST to.
	Host   string
	Server *fakestorage.Server
	http   *httptest.Server
}

// NewGCS starts a fake Cloud Storage server holding the given (empty)
// buckets. Close stops it.
func NewGCS(buckets ...string) (*GCS, error) {
	s, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, PublicHost: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		s.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	h := s.HTTPHandler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gcsBucketOf(r.URL.EscapedPath()) == DeniedBucket {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":403,"message":"caller does not have storage.objects access to the Google Cloud Storage bucket","errors":[{"reason":"forbidden","message":"forbidden"}]}}`))
			return
		}
		h.ServeHTTP(w, r)
	}))
	return &GCS{Host: strings.TrimPrefix(hs.URL, "http://"), Server: s, http: hs}, nil
}

// gcsBucketOf finds the bucket of a JSON API request path
// (/storage/v1/b/B/..., /upload/storage/v1/b/B/...) or an XML one (/B/...).
func gcsBucketOf(p string) string {
	if _, rest, ok := strings.Cut(p, "/b/"); ok && strings.Contains(p, "/storage/v1/") {
		b, _, _ := strings.Cut(rest, "/")
		return b
	}
	b, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return b
}

// Close stops the server.
func (g *GCS) Close() {
	g.http.Close()
	g.Server.Stop()
}

// StartGCS starts a fake Cloud Storage server for the test, points
// STORAGE_EMULATOR_HOST at it (tb.Setenv: the test cannot be parallel),
// and stops it when the test ends.
func StartGCS(tb testing.TB, buckets ...string) *GCS {
	tb.Helper()
	g, err := NewGCS(buckets...)
	if err != nil {
		tb.Fatalf("fake GCS server: %v", err)
	}
	tb.Cleanup(g.Close)
	tb.Setenv("STORAGE_EMULATOR_HOST", g.Host)
	return g
}

// S3 is a running fake S3 server.
type S3 struct {
	// Endpoint is the server's URL (http://127.0.0.1:PORT).
	Endpoint string
	Backend  *s3mem.Backend
	http     *httptest.Server
}

// NewS3 starts a fake S3 server holding the given (empty) buckets.
func NewS3(buckets ...string) (*S3, error) {
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	h := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if b == DeniedBucket {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		h.ServeHTTP(w, r)
	}))
	return &S3{Endpoint: hs.URL, Backend: be, http: hs}, nil
}

// Close stops the server.
func (s *S3) Close() { s.http.Close() }

// Query is the query of an s3:// URL that reaches this server
// (region, endpoint, path-style addressing).
func (s *S3) Query() string {
	return "region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(s.Endpoint)
}

// URL is s3://bucket/key with the query that reaches this server.
func (s *S3) URL(bucket, key string) string {
	return "s3://" + bucket + "/" + key + "?" + s.Query()
}

// Env is the environment the AWS SDK needs to sign requests to the fake
// (any static credentials do), without reading the user's AWS files.
func (s *S3) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "fake",
		"AWS_SECRET_ACCESS_KEY":       "fake",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// StartS3 starts a fake S3 server for the test, sets the AWS environment
// for it (tb.Setenv: the test cannot be parallel), and stops it when the
// test ends.
func StartS3(tb testing.TB, buckets ...string) *S3 {
	tb.Helper()
	s, err := NewS3(buckets...)
	if err != nil {
		tb.Fatalf("fake S3 server: %v", err)
	}
	tb.Cleanup(s.Close)
	for k, v := range s.Env() {
		tb.Setenv(k, v)
	}
	return s
}
