package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	gcs "cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob" // registers s3:// with blob.OpenBucket
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Info describes an object or file.
type Info struct {
	// Name is the base name (the last element of the key or path).
	Name string
	// Size is the stored size in bytes (compressed, if it is); -1 when
	// unknown (stdin).
	Size int64
	// Version identifies the object's content: "generation:N" for Cloud
	// Storage, "etag:E" for S3, "" for a local file or stdin.
	Version string
	// ModTime is the last modification time, when known.
	ModTime time.Time
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C formats a CRC-32C checksum as Cloud Storage does (the base64 of
// its four big-endian bytes), as 'gcloud storage hash' prints it.
func CRC32C(sum uint32) string {
	b := []byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}
	return base64.StdEncoding.EncodeToString(b)
}

// counter counts and checksums the stored bytes that pass through it.
type counter struct {
	n   int64
	crc hash.Hash32
}

func newCounter() *counter { return &counter{crc: crc32.New(castagnoli)} }

func (c *counter) add(p []byte) {
	c.n += int64(len(p))
	c.crc.Write(p)
}

type countingReader struct {
	r   io.Reader
	c   *counter
	err error // the last error of r, other than io.EOF
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.c.add(p[:n])
	if err != nil && err != io.EOF {
		cr.err = err
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	c *counter
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.c.add(p[:n])
	return n, err
}

// ---- reading

// Reader reads an object or file, decompressed by its extension. It counts
// and checksums the stored bytes it reads.
type Reader struct {
	loc      Location
	info     Info
	comp     Compression
	r        io.ReadCloser // the decompressor
	raw      *countingReader
	closeRaw func() error
	ctx      context.Context
}

// Open opens arg (see [Parse]) for reading. "-" reads os.Stdin.
func Open(ctx context.Context, arg string) (*Reader, error) {
	l, err := Parse(arg)
	if err != nil {
		return nil, err
	}
	return l.Open(ctx)
}

// Open opens l for reading, decompressing by its extension. An object is
// read at the version [Stat] would report now: if it is replaced while
// being read, reading fails rather than mixing two versions (Cloud
// Storage; S3 where the service honours If-Match).
func (l Location) Open(ctx context.Context) (*Reader, error) {
	rd := &Reader{loc: l, ctx: ctx, comp: CompressionOf(l.Name())}
	var src io.Reader
	switch l.Kind {
	case Stdio:
		rd.info = Info{Name: "stdin", Size: -1}
		src, rd.closeRaw = os.Stdin, func() error { return nil }
	case Local:
		f, err := os.Open(l.Path)
		if err != nil {
			return nil, classify(ctx, err, "open", l)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, classify(ctx, err, "open", l)
		}
		if st.IsDir() {
			f.Close()
			return nil, errs.New(errs.ErrInvalid, "open", l.String(), "is a directory, want a file")
		}
		rd.info = Info{Name: l.Base(), Size: st.Size(), ModTime: st.ModTime()}
		src, rd.closeRaw = f, f.Close
	default:
		if l.IsPrefix() {
			return nil, errs.New(errs.ErrInvalid, "open", l.String(), "names a prefix, want an object")
		}
		b, err := openBucket(ctx, l)
		if err != nil {
			return nil, err
		}
		a, err := b.Attributes(ctx, l.Key)
		if err != nil {
			b.Close()
			return nil, classify(ctx, err, "open", l)
		}
		rd.info = infoOf(l, a)
		br, err := b.NewReader(ctx, l.Key, &blob.ReaderOptions{BeforeRead: pin(a)})
		if err != nil {
			b.Close()
			return nil, classify(ctx, err, "open", l)
		}
		src = br
		rd.closeRaw = func() error { err := br.Close(); b.Close(); return err }
	}
	rd.raw = &countingReader{r: src, c: newCounter()}
	d, err := decompressor(rd.comp, rd.raw)
	if err != nil {
		rd.closeRaw()
		if rd.raw.err != nil {
			return nil, classify(ctx, rd.raw.err, "read", l)
		}
		return nil, errs.New(errs.ErrInvalid, "read", l.String(), "not %s data (the name ends in %s): %v", rd.comp, rd.comp.Ext(), err)
	}
	rd.r = d
	return rd, nil
}

// pin makes a reader read the version described by a.
func pin(a *blob.Attributes) func(func(any) bool) error {
	return func(as func(any) bool) error {
		var oa gcs.ObjectAttrs
		if a.As(&oa) && oa.Generation != 0 {
			var h **gcs.ObjectHandle
			if as(&h) {
				*h = (*h).Generation(oa.Generation)
			}
			return nil
		}
		var in *s3.GetObjectInput
		if a.ETag != "" && as(&in) {
			in.IfMatch = aws.String(a.ETag)
		}
		return nil
	}
}

func infoOf(l Location, a *blob.Attributes) Info {
	in := Info{Name: l.Base(), Size: a.Size, ModTime: a.ModTime}
	var oa gcs.ObjectAttrs
	switch {
	case a.As(&oa) && oa.Generation != 0:
		in.Version = "generation:" + strconv.FormatInt(oa.Generation, 10)
	case a.ETag != "":
		in.Version = "etag:" + strings.Trim(a.ETag, `"`)
	}
	return in
}

// Info describes what the reader reads, as of its opening.
func (r *Reader) Info() Info { return r.info }

// Location is where the reader reads.
func (r *Reader) Location() Location { return r.loc }

// Read reads decompressed bytes.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		if r.raw.err != nil {
			return n, classify(r.ctx, r.raw.err, "read", r.loc)
		}
		if r.comp != None {
			return n, errs.New(errs.ErrInvalid, "read", r.loc.String(), "bad %s data: %v", r.comp, err)
		}
		return n, classify(r.ctx, err, "read", r.loc)
	}
	return n, err
}

// StoredBytes is how many stored (compressed) bytes were read so far.
func (r *Reader) StoredBytes() int64 { return r.raw.c.n }

// CRC32C is the CRC-32C checksum of the stored bytes read so far.
func (r *Reader) CRC32C() uint32 { return r.raw.c.crc.Sum32() }

// Close releases the reader (stdin stays open).
func (r *Reader) Close() error {
	r.r.Close()
	return r.closeRaw()
}

// ---- writing

// Writer writes an object or file, compressed by its extension. What it
// writes appears only when Close succeeds.
type Writer struct {
	loc    Location
	w      io.WriteCloser // the compressor
	raw    *countingWriter
	commit func() error
	abort  func()
	ctx    context.Context
	done   bool
}

// Create opens arg (see [Parse]) for writing. "-" writes os.Stdout.
func Create(ctx context.Context, arg string) (*Writer, error) {
	l, err := Parse(arg)
	if err != nil {
		return nil, err
	}
	return l.Create(ctx)
}

// contentType is the Content-Type an object of this name is stored with.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".zst"):
		return "application/zstd"
	case strings.HasSuffix(name, ".ndjson"):
		return "application/x-ndjson"
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// Create opens l for writing, compressing by its extension. A local file
// is written as NAME.partial beside it and renamed by Close; an object's
// upload completes at Close. Abort, a failed write or a cancelled ctx
// leave nothing behind (an existing file or object stays as it was).
func (l Location) Create(ctx context.Context) (*Writer, error) {
	wr := &Writer{loc: l, ctx: ctx}
	var dst io.Writer
	switch l.Kind {
	case Stdio:
		dst = os.Stdout
		wr.commit, wr.abort = func() error { return nil }, func() {}
	case Local:
		if l.IsPrefix() {
			return nil, errs.New(errs.ErrInvalid, "create", l.String(), "is a directory, want a file name")
		}
		tmp := l.Path + ".partial"
		f, err := os.Create(tmp)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &errs.Error{Kind: errs.ErrNotFound, Op: "create", Target: l.String(), Cause: message{
					fmt.Sprintf("no such directory %s (hint: create it first)", filepath.Dir(l.Path)), err}}
			}
			return nil, classify(ctx, err, "create", l)
		}
		dst = f
		wr.commit = func() error {
			if err := f.Close(); err != nil {
				os.Remove(tmp)
				return classify(ctx, err, "write", l)
			}
			if err := os.Rename(tmp, l.Path); err != nil {
				os.Remove(tmp)
				return classify(ctx, err, "write", l)
			}
			return nil
		}
		wr.abort = func() { f.Close(); os.Remove(tmp) }
	default:
		if l.IsPrefix() {
			return nil, errs.New(errs.ErrInvalid, "create", l.String(), "names a prefix, want an object name")
		}
		b, err := openBucket(ctx, l)
		if err != nil {
			return nil, err
		}
		// Find a missing bucket or refused credentials now rather than
		// after the whole upload; a writer may lack the right to list,
		// which is no reason to stop.
		if _, _, err := b.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: l.Key}); err != nil {
			if err := classify(ctx, err, "create", l); !errors.Is(err, errs.ErrPermission) {
				b.Close()
				if errors.Is(err, errs.ErrNotFound) {
					return nil, errs.New(errs.ErrNotFound, "create", l.String(), "no such bucket %q", l.Bucket)
				}
				return nil, err
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		bw, err := b.NewWriter(wctx, l.Key, &blob.WriterOptions{ContentType: contentType(l.Key)})
		if err != nil {
			cancel()
			b.Close()
			return nil, classify(ctx, err, "create", l)
		}
		dst = bw
		wr.commit = func() error {
			defer b.Close()
			defer cancel()
			if err := bw.Close(); err != nil {
				return classify(ctx, err, "write", l)
			}
			return nil
		}
		wr.abort = func() {
			cancel() // a cancelled upload is discarded
			bw.Close()
			b.Close()
		}
	}
	wr.raw = &countingWriter{w: dst, c: newCounter()}
	w, err := compressor(CompressionOf(l.Name()), wr.raw)
	if err != nil {
		wr.abort()
		return nil, err
	}
	wr.w = w
	return wr, nil
}

// Location is where the writer writes.
func (w *Writer) Location() Location { return w.loc }

// Write writes uncompressed bytes.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errs.New(errs.ErrInvalid, "write", w.loc.String(), "writer already closed")
	}
	n, err := w.w.Write(p)
	if err != nil {
		return n, classify(w.ctx, err, "write", w.loc)
	}
	return n, nil
}

// Close finishes the output and makes it visible; on error nothing is
// left. Closing twice, or after Abort, does nothing.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.w.Close(); err != nil {
		w.abort()
		return classify(w.ctx, err, "write", w.loc)
	}
	if err := w.ctx.Err(); err != nil {
		w.abort()
		return fmt.Errorf("write %s: %w", w.loc, err)
	}
	return w.commit()
}

// Abort discards the output. It does nothing after Close.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.abort()
}

// StoredBytes is how many stored (compressed) bytes were written so far.
func (w *Writer) StoredBytes() int64 { return w.raw.c.n }

// CRC32C is the CRC-32C checksum of the stored bytes written so far.
func (w *Writer) CRC32C() uint32 { return w.raw.c.crc.Sum32() }

// ---- metadata

// Stat describes arg (see [Parse]).
func Stat(ctx context.Context, arg string) (Info, error) {
	l, err := Parse(arg)
	if err != nil {
		return Info{}, err
	}
	return l.Stat(ctx)
}

// Stat describes the object or file l.
func (l Location) Stat(ctx context.Context) (Info, error) {
	switch l.Kind {
	case Stdio:
		return Info{Name: "stdin", Size: -1}, nil
	case Local:
		st, err := os.Stat(l.Path)
		if err != nil {
			return Info{}, classify(ctx, err, "stat", l)
		}
		return Info{Name: l.Base(), Size: st.Size(), ModTime: st.ModTime()}, nil
	}
	b, err := openBucket(ctx, l)
	if err != nil {
		return Info{}, err
	}
	defer b.Close()
	a, err := b.Attributes(ctx, l.Key)
	if err != nil {
		return Info{}, classify(ctx, err, "stat", l)
	}
	return infoOf(l, a), nil
}

// List returns the objects or files directly under the prefix l (not
// those deeper), sorted by name; each Info's Name is relative to l, so
// l.Join(info.Name) locates it.
func (l Location) List(ctx context.Context) ([]Info, error) {
	var out []Info
	switch l.Kind {
	case Stdio:
		return nil, errs.New(errs.ErrInvalid, "list", "-", "stdin is not a prefix")
	case Local:
		es, err := os.ReadDir(l.Path)
		if err != nil {
			return nil, classify(ctx, err, "list", l)
		}
		for _, e := range es {
			if !e.Type().IsRegular() {
				continue
			}
			st, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, Info{Name: e.Name(), Size: st.Size(), ModTime: st.ModTime()})
		}
		return out, nil
	}
	b, err := openBucket(ctx, l)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	prefix := l.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	it := b.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, classify(ctx, err, "list", l)
		}
		if o.IsDir {
			continue
		}
		out = append(out, Info{Name: strings.TrimPrefix(o.Key, prefix), Size: o.Size, ModTime: o.ModTime})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes the object or file l.
func (l Location) Delete(ctx context.Context) error {
	switch l.Kind {
	case Stdio:
		return errs.New(errs.ErrInvalid, "delete", "-", "cannot delete stdin")
	case Local:
		return classify(ctx, os.Remove(l.Path), "delete", l)
	}
	b, err := openBucket(ctx, l)
	if err != nil {
		return err
	}
	defer b.Close()
	return classify(ctx, b.Delete(ctx, l.Key), "delete", l)
}

// ---- buckets

func openBucket(ctx context.Context, l Location) (*blob.Bucket, error) {
	switch l.Kind {
	case GCS:
		if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
			// The Cloud Storage client talks to the emulator without
			// credentials (it reads the variable, with or without a
			// scheme, itself).
			c, err := gcs.NewClient(ctx, option.WithoutAuthentication())
			if err != nil {
				return nil, errs.New(errs.ErrInvalid, "open", l.String(), "STORAGE_EMULATOR_HOST: %v", err)
			}
			b, err := gcsblob.OpenBucket(ctx, nil, l.Bucket, &gcsblob.Options{Client: c})
			if err != nil {
				c.Close()
				return nil, classify(ctx, err, "open", l)
			}
			return b, nil
		}
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, &errs.Error{Kind: errs.ErrUnauthenticated, Op: "open", Target: l.String(), Cause: message{
				"no Google application-default credentials (hint: run 'gcloud auth application-default login', or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file; for a local emulator set STORAGE_EMULATOR_HOST)", err}}
		}
		hc, err := gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(creds))
		if err != nil {
			return nil, classify(ctx, err, "open", l)
		}
		b, err := gcsblob.OpenBucket(ctx, hc, l.Bucket, nil)
		if err != nil {
			return nil, classify(ctx, err, "open", l)
		}
		return b, nil
	case S3:
		u := url.URL{Scheme: "s3", Host: l.Bucket, RawQuery: l.Query.Encode()}
		b, err := blob.OpenBucket(ctx, u.String())
		if err != nil {
			// Bad settings: gocloud's message names the setting.
			return nil, &errs.Error{Kind: errs.ErrInvalid, Op: "open", Target: l.String(), Cause: message{
				strings.TrimPrefix(err.Error(), "open blob.Bucket: ") + " (" + urlHint + ")", err}}
		}
		return b, nil
	}
	return nil, errs.New(errs.ErrInvalid, "open", l.String(), "not a bucket URL")
}

// message is a cause that reads as msg and unwraps to err.
type message struct {
	msg string
	err error
}

func (m message) Error() string { return m.msg }
func (m message) Unwrap() error { return m.err }

const accessHint = "hint: the credentials in use (application-default credentials for gs://, the AWS credential chain for s3://) " +
	"need access to the bucket: roles/storage.objectViewer to read, roles/storage.objectUser to write; s3:GetObject, s3:PutObject, s3:ListBucket"

// classify turns a storage error into an errs kind naming the location.
func classify(ctx context.Context, err error, op string, l Location) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	target := l.String()
	if ctx != nil && ctx.Err() != nil {
		return &errs.Error{Kind: errs.KindOf(ctx.Err()), Op: op, Target: target, Cause: errors.Join(ctx.Err(), err)}
	}
	kind := func(k error, msg string) error {
		return &errs.Error{Kind: k, Op: op, Target: target, Cause: message{msg, err}}
	}
	if l.Kind == Local {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return kind(errs.ErrNotFound, "no such file or directory")
		case errors.Is(err, fs.ErrPermission):
			return kind(errs.ErrPermission, "the file system refused access (hint: check the file's and directory's owner and mode)")
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return kind(errs.ErrInternal, pe.Err.Error())
		}
		return errs.Wrap(err, op, target)
	}
	msg := err.Error()
	// gcsblob reads 403 as not found (Cloud Storage answers 403 for a
	// bucket the caller may not see, which may not exist); fbadmin says
	// what the service said.
	status := 0
	var gerr *googleapi.Error
	var herr interface{ HTTPStatusCode() int }
	switch {
	case errors.As(err, &gerr):
		status = gerr.Code
	case errors.As(err, &herr):
		status = herr.HTTPStatusCode()
	}
	switch status {
	case http.StatusUnauthorized:
		return kind(errs.ErrUnauthenticated, "the credentials were refused ("+accessHint+")")
	case http.StatusForbidden:
		return kind(errs.ErrPermission, "access denied ("+accessHint+")")
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		if strings.Contains(msg, "bucket") {
			return kind(errs.ErrNotFound, fmt.Sprintf("no such bucket %q", l.Bucket))
		}
		return kind(errs.ErrNotFound, "no such object")
	case gcerrors.PermissionDenied:
		return kind(errs.ErrPermission, "access denied ("+accessHint+")")
	case gcerrors.FailedPrecondition:
		return kind(errs.ErrConflict, "the object changed while it was read (a new version was written): read it again")
	case gcerrors.InvalidArgument:
		return kind(errs.ErrInvalid, stripBlob(msg))
	case gcerrors.Canceled:
		return &errs.Error{Kind: errs.ErrCanceled, Op: op, Target: target, Cause: errors.Join(context.Canceled, err)}
	case gcerrors.DeadlineExceeded:
		return kind(errs.ErrUnavailable, "the storage service did not answer in time")
	case gcerrors.ResourceExhausted:
		return kind(errs.ErrResourceLimit, stripBlob(msg))
	}
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "credential"), strings.Contains(low, "no ec2 imds role"):
		return kind(errs.ErrUnauthenticated, "no usable credentials (hint: for s3:// set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "+
			"or add ?anonymous=true for a public bucket; for gs:// run 'gcloud auth application-default login')")
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return kind(errs.ErrUnavailable, "the storage service did not answer: "+stripBlob(msg)+" (hint: check the network, the endpoint setting, or STORAGE_EMULATOR_HOST)")
	}
	return kind(errs.ErrInternal, stripBlob(msg))
}

// stripBlob drops gocloud's "blob (key ...) (code=...): " prefix, which
// repeats what the op and target say.
func stripBlob(msg string) string {
	if i := strings.Index(msg, "): "); strings.HasPrefix(msg, "blob ") && i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// Canonical is a stable identity of the location, for journals: the
// absolute path of a local file, the URL of an object.
func (l Location) Canonical() string {
	if l.Kind == Local {
		if a, err := filepath.Abs(l.Path); err == nil {
			return a
		}
	}
	return l.String()
}
