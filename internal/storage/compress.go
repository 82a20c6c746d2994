package storage

import (
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how an object's bytes are compressed.
type Compression string

// The compressions, chosen by extension.
const (
	None Compression = ""
	Gzip Compression = "gzip" // .gz
	Zstd Compression = "zstd" // .zst
)

// CompressionOf returns the compression that name's extension asks for.
func CompressionOf(name string) Compression {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return Gzip
	case strings.HasSuffix(name, ".zst"):
		return Zstd
	}
	return None
}

// Ext is the file extension of the compression ("" for none).
func (c Compression) Ext() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// ParseCompression reads a --compress value: none, gzip (gz) or zstd (zst).
func ParseCompression(s string) (Compression, bool) {
	switch strings.ToLower(s) {
	case "", "none":
		return None, true
	case "gzip", "gz":
		return Gzip, true
	case "zstd", "zst":
		return Zstd, true
	}
	return None, false
}

// compressor wraps w; closing the result flushes the compressed stream
// but leaves w open.
func compressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
	}
	return nopWriteCloser{w}, nil
}

// decompressor wraps r; closing the result releases the decoder but leaves
// r open.
func decompressor(c Compression, r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
		if err != nil {
			return nil, err
		}
		return zstdReadCloser{d}, nil
	}
	return io.NopCloser(r), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
