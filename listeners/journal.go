package listeners

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// A journal is a sink's write-ahead log of the events it is about to
// receive. Checkpoints are batched (written every
// [Options.CheckpointInterval]); the journal covers the gap: before a batch
// is passed to Sink.Send, its events are appended to the journal and synced,
// so after a crash the engine knows every document version a sink may
// hold, acknowledged or not. Each checkpoint save compacts the journal: the
// events it covers are dropped, and only the ones not yet resolved (sent,
// but not known to be acknowledged) are kept.
//
// On disk, STATE_DIR/.journal/SINK.wal is a sequence of records, one per
// batch:
//
//	uvarint length of the payload
//	payload: uvarint count, then count entries:
//	    uvarint length, listener name; uvarint length, document path;
//	    varint update time (Unix ns); one byte: 1 added, 2 modified, 3 removed
//	uint32 little endian CRC-32 (IEEE) of the payload
//
// A record cut short by a crash (or a power cut before the sync) fails its
// length or checksum; it and anything after it are dropped when the
// journal is opened. Such a record was never passed to the sink, since the
// send waits for the append and its sync.
type journal struct {
	path string
	f    *os.File
	// store, when set, keeps the journal under path instead of a file.
	store Store
	// appended (since the last reset) and kept (entries the last reset
	// wrote) let a store journal skip rewriting what it already holds.
	appended bool
	kept     int
	buf      []byte
	// sync is false only in tests that measure without it.
	sync bool
}

// journalEntry is one event as the journal keeps it.
type journalEntry struct {
	listener string
	path     string
	ut       int64
	typ      EventType
}

var typeCodes = map[EventType]byte{Added: 1, Modified: 2, Removed: 3}

func typeOfCode(b byte) (EventType, bool) {
	switch b {
	case 1:
		return Added, true
	case 2:
		return Modified, true
	case 3:
		return Removed, true
	}
	return "", false
}

// openJournal opens (creating it if needed) the journal at path and returns
// its intact entries in order. A damaged tail is cut off.
func openJournal(path string) (*journal, []journalEntry, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	entries, good := decodeJournal(b)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	if good < len(b) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("repair journal %s: %w", path, err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	return &journal{path: path, f: f, sync: true}, entries, nil
}

// decodeJournal returns the entries of the intact records of b and the
// length of the intact prefix.
func decodeJournal(b []byte) ([]journalEntry, int) {
	var out []journalEntry
	off := 0
	for off < len(b) {
		n, k := binary.Uvarint(b[off:])
		if k <= 0 || n > uint64(len(b)-off-k) || uint64(len(b)-off-k)-n < 4 {
			break
		}
		payload := b[off+k : off+k+int(n)]
		sum := binary.LittleEndian.Uint32(b[off+k+int(n):])
		if crc32.ChecksumIEEE(payload) != sum {
			break
		}
		entries, ok := decodeJournalPayload(payload)
		if !ok {
			break
		}
		out = append(out, entries...)
		off += k + int(n) + 4
	}
	return out, off
}

func decodeJournalPayload(p []byte) ([]journalEntry, bool) {
	r := bytes.NewReader(p)
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(len(p)) {
		return nil, false
	}
	str := func() (string, bool) {
		l, err := binary.ReadUvarint(r)
		if err != nil || l > uint64(r.Len()) {
			return "", false
		}
		s := make([]byte, l)
		if _, err := io.ReadFull(r, s); err != nil {
			return "", false
		}
		return string(s), true
	}
	out := make([]journalEntry, 0, n)
	for i := uint64(0); i < n; i++ {
		var e journalEntry
		var ok bool
		if e.listener, ok = str(); !ok {
			return nil, false
		}
		if e.path, ok = str(); !ok {
			return nil, false
		}
		if e.ut, err = binary.ReadVarint(r); err != nil {
			return nil, false
		}
		c, err := r.ReadByte()
		if err != nil {
			return nil, false
		}
		if e.typ, ok = typeOfCode(c); !ok {
			return nil, false
		}
		out = append(out, e)
	}
	return out, r.Len() == 0
}

// appendRecord encodes entries as one record onto dst.
func appendRecord(dst []byte, entries []journalEntry) []byte {
	var payload []byte
	payload = binary.AppendUvarint(payload, uint64(len(entries)))
	for _, e := range entries {
		payload = binary.AppendUvarint(payload, uint64(len(e.listener)))
		payload = append(payload, e.listener...)
		payload = binary.AppendUvarint(payload, uint64(len(e.path)))
		payload = append(payload, e.path...)
		payload = binary.AppendVarint(payload, e.ut)
		payload = append(payload, typeCodes[e.typ])
	}
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(payload))
}

// append writes entries as one record and syncs the file.
func (j *journal) append(entries []journalEntry) error {
	j.buf = appendRecord(j.buf[:0], entries)
	if j.store != nil {
		if err := j.store.Append(context.Background(), j.path, j.buf); err != nil {
			return fmt.Errorf("append to journal %s: %w", j.path, err)
		}
		j.appended = true
		return nil
	}
	if _, err := j.f.Write(j.buf); err != nil {
		return fmt.Errorf("append to journal %s: %w", j.path, err)
	}
	if j.sync {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("sync journal %s: %w", j.path, err)
		}
	}
	return nil
}

// reset replaces the journal's content with keep (nothing, usually): it is
// called after a checkpoint save has made the rest redundant.
func (j *journal) reset(keep []journalEntry) error {
	if j.store != nil {
		// An idle sink's checkpoint ticks would otherwise cost a write
		// each: the kept entries only ever shrink, so an unchanged count
		// without appends is an unchanged journal.
		if !j.appended && len(keep) == j.kept {
			return nil
		}
		var data []byte
		if len(keep) > 0 {
			data = appendRecord(nil, keep)
		}
		if err := j.store.Write(context.Background(), j.path, data); err != nil {
			return fmt.Errorf("compact journal %s: %w", j.path, err)
		}
		j.appended, j.kept = false, len(keep)
		return nil
	}
	if len(keep) == 0 {
		if err := j.f.Truncate(0); err != nil {
			return fmt.Errorf("compact journal %s: %w", j.path, err)
		}
		if _, err := j.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("compact journal %s: %w", j.path, err)
		}
		return nil
	}
	// Written aside and renamed, so that a crash keeps the old journal
	// (a superset) or the new one.
	if err := writeFileAtomic(j.path, appendRecord(nil, keep)); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("reopen journal: %w", err)
	}
	j.f.Close()
	j.f = f
	return nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	return j.f.Close()
}

// journalFile is where the journal of the sink called name is kept. The
// directory's leading dot keeps it apart from the listeners' directories,
// whose names start with a letter or digit.
func journalFile(stateDir, name string) string {
	return filepath.Join(stateDir, ".journal", name+".wal")
}
