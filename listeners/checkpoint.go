package listeners

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Checkpoint is the delivered state of one listener for one sink: for each
// document the sink has acknowledged, the update time (Unix nanoseconds) of
// the version it acknowledged. Removed documents are absent.
type Checkpoint map[string]int64

// The checkpoint file format, version 1:
//
//	"FBCKPT1\n"
//	uvarint count
//	count entries, sorted by path:
//	    uvarint length of the prefix shared with the previous path
//	    uvarint length of the rest, then the rest
//	    varint  update time in Unix nanoseconds
//	uint32 little endian CRC-32 (IEEE) of all the bytes before it
//
// Sorted paths share long prefixes ("users/alice/orders/…"), so an entry
// costs a few bytes beyond its distinct suffix.
var checkpointMagic = []byte("FBCKPT1\n")

// ErrNoCheckpoint is returned by [LoadCheckpoint] when the file does not
// exist, meaning the listener has never run for that sink.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LoadCheckpoint reads a checkpoint file written by [SaveCheckpoint].
func LoadCheckpoint(path string) (Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%v): remove it to start this listener afresh (its sink then gets the whole snapshot again, or nothing with initial: changes-only)", path, err)
	}
	return cp, nil
}

func decodeCheckpoint(b []byte) (Checkpoint, error) {
	if len(b) < len(checkpointMagic)+4 || !bytes.Equal(b[:len(checkpointMagic)], checkpointMagic) {
		return nil, errors.New("not a checkpoint file")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errors.New("checksum mismatch")
	}
	r := bytes.NewReader(body[len(checkpointMagic):])
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(body)) {
		return nil, errors.New("bad entry count")
	}
	cp := make(Checkpoint, n)
	var prev []byte
	for i := uint64(0); i < n; i++ {
		shared, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		rest, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		if shared > uint64(len(prev)) || rest > uint64(r.Len()) {
			return nil, errors.New("bad entry")
		}
		p := make([]byte, int(shared)+int(rest))
		copy(p, prev[:shared])
		if _, err := io.ReadFull(r, p[shared:]); err != nil {
			return nil, err
		}
		t, err := binary.ReadVarint(r)
		if err != nil {
			return nil, err
		}
		cp[string(p)] = t
		prev = p
	}
	if r.Len() != 0 {
		return nil, errors.New("trailing bytes")
	}
	return cp, nil
}

func encodeCheckpoint(cp Checkpoint) []byte {
	paths := make([]string, 0, len(cp))
	for p := range cp {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var buf bytes.Buffer
	buf.Write(checkpointMagic)
	var tmp [binary.MaxVarintLen64]byte
	buf.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(paths)))])
	prev := ""
	for _, p := range paths {
		shared := 0
		for shared < len(p) && shared < len(prev) && p[shared] == prev[shared] {
			shared++
		}
		buf.Write(tmp[:binary.PutUvarint(tmp[:], uint64(shared))])
		buf.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(p)-shared))])
		buf.WriteString(p[shared:])
		buf.Write(tmp[:binary.PutVarint(tmp[:], cp[p])])
		prev = p
	}
	sum := crc32.ChecksumIEEE(buf.Bytes())
	binary.LittleEndian.PutUint32(tmp[:4], sum)
	buf.Write(tmp[:4])
	return buf.Bytes()
}

// SaveCheckpoint writes cp to path atomically: a temporary file in the same
// directory is written, synced and renamed over path, and the directory is
// synced, so a crash leaves either the old or the new checkpoint.
func SaveCheckpoint(path string, cp Checkpoint) error {
	return writeFileAtomic(path, encodeCheckpoint(cp))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	tmp := f.Name()
	w := bufio.NewWriterSize(f, 64<<10)
	_, err = w.Write(data)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
