package managed

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The LevelDB log format (leveldb's doc/log_format.md): the file is a
// sequence of 32 KiB blocks; each block holds records of a 7-byte header
// (masked CRC-32C of the type byte and the payload, little-endian; payload
// length, little-endian uint16; type) and the payload. A record that does
// not fit in the rest of its block is split into FIRST, MIDDLE... LAST
// fragments; fewer than 7 bytes left at the end of a block are zeros.
const (
	blockSize  = 32 << 10
	headerSize = 7

	recZero   = 0 // preallocated space; never written by this package
	recFull   = 1
	recFirst  = 2
	recMiddle = 3
	recLast   = 4
)

// MaxRecordBytes bounds one record (a document is at most about 1 MiB;
// a corrupt length cannot make the reader allocate more than this).
const MaxRecordBytes = 32 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const crcMaskDelta = 0xa282ead8

func maskCRC(c uint32) uint32 { return (c>>15 | c<<17) + crcMaskDelta }

// recordCRC is the masked CRC-32C of a fragment: its type byte, then its
// payload.
func recordCRC(typ byte, payload []byte) uint32 {
	c := crc32.Update(0, crcTable, []byte{typ})
	return maskCRC(crc32.Update(c, crcTable, payload))
}

// CorruptError is a problem in a file of an export: the file, the byte
// offset where the bad record or fragment starts, and what is wrong.
type CorruptError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: byte %d: %s", e.File, e.Offset, e.Msg)
}

// LogReader reads the records of a LevelDB log file, one block at a time.
type LogReader struct {
	r      io.Reader
	name   string
	block  [blockSize]byte
	n      int   // valid bytes in block
	pos    int   // read position in block
	base   int64 // file offset of block[0]
	eof    bool
	rec    []byte
	recOff int64
}

// NewLogReader reads records from r; name is used in errors.
func NewLogReader(r io.Reader, name string) *LogReader {
	return &LogReader{r: r, name: name, base: -blockSize}
}

func (lr *LogReader) corrupt(off int64, format string, args ...any) error {
	return &CorruptError{File: lr.name, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// nextBlock reads the next block; false at the end of the file.
func (lr *LogReader) nextBlock() (bool, error) {
	if lr.eof {
		return false, nil
	}
	lr.base += blockSize
	n, err := io.ReadFull(lr.r, lr.block[:])
	lr.n, lr.pos = n, 0
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		lr.eof = true
		return n > 0, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", lr.name, err)
	}
	return true, nil
}

// Next returns the next record, valid until the following call, and the
// file offset of its first fragment; io.EOF after the last one.
func (lr *LogReader) Next() ([]byte, int64, error) {
	lr.rec = lr.rec[:0]
	inRecord := false
	for {
		if lr.n-lr.pos < headerSize {
			// The trailer of a block: zeros, then the next block.
			if lr.n == blockSize || lr.base < 0 {
				for _, b := range lr.block[lr.pos:lr.n] {
					if b != 0 && lr.base >= 0 {
						return nil, 0, lr.corrupt(lr.base+int64(lr.pos), "non-zero bytes in a block trailer")
					}
				}
				ok, err := lr.nextBlock()
				if err != nil {
					return nil, 0, err
				}
				if ok {
					continue
				}
			}
			// The end of the file.
			if lr.n > lr.pos && !allZero(lr.block[lr.pos:lr.n]) {
				return nil, 0, lr.corrupt(lr.base+int64(lr.pos), "truncated record header (%d bytes at the end of the file)", lr.n-lr.pos)
			}
			if inRecord {
				return nil, 0, lr.corrupt(lr.recOff, "truncated record: the file ends before its last fragment")
			}
			return nil, 0, io.EOF
		}
		off := lr.base + int64(lr.pos)
		h := lr.block[lr.pos : lr.pos+headerSize]
		sum := binary.LittleEndian.Uint32(h[0:4])
		length := int(binary.LittleEndian.Uint16(h[4:6]))
		typ := h[6]
		if typ == recZero && length == 0 && sum == 0 {
			// Zero padding (preallocated space): nothing more in this block.
			if !allZero(lr.block[lr.pos:lr.n]) {
				return nil, 0, lr.corrupt(off, "bad record type 0")
			}
			lr.pos = lr.n
			if lr.n < blockSize {
				lr.pos = lr.n
			}
			continue
		}
		if lr.pos+headerSize+length > lr.n {
			if lr.n < blockSize {
				return nil, 0, lr.corrupt(off, "truncated record: %d payload bytes announced, the file ends after %d", length, lr.n-lr.pos-headerSize)
			}
			return nil, 0, lr.corrupt(off, "record of %d bytes overruns its block", length)
		}
		payload := lr.block[lr.pos+headerSize : lr.pos+headerSize+length]
		if typ < recFull || typ > recLast {
			return nil, 0, lr.corrupt(off, "bad record type %d", typ)
		}
		if got := recordCRC(typ, payload); got != sum {
			return nil, 0, lr.corrupt(off, "checksum mismatch (stored %08x, computed %08x)", sum, got)
		}
		lr.pos += headerSize + length
		switch typ {
		case recFull:
			if inRecord {
				return nil, 0, lr.corrupt(off, "FULL fragment inside a record started at byte %d", lr.recOff)
			}
			return payload, off, nil
		case recFirst:
			if inRecord {
				return nil, 0, lr.corrupt(off, "FIRST fragment inside a record started at byte %d", lr.recOff)
			}
			inRecord, lr.recOff = true, off
			lr.rec = append(lr.rec, payload...)
		case recMiddle, recLast:
			if !inRecord {
				return nil, 0, lr.corrupt(off, "%s fragment without a FIRST one", fragName(typ))
			}
			if len(lr.rec)+len(payload) > MaxRecordBytes {
				return nil, 0, lr.corrupt(lr.recOff, "record longer than %d MiB", MaxRecordBytes>>20)
			}
			lr.rec = append(lr.rec, payload...)
			if typ == recLast {
				return lr.rec, lr.recOff, nil
			}
		}
	}
}

func fragName(t byte) string {
	switch t {
	case recMiddle:
		return "MIDDLE"
	case recLast:
		return "LAST"
	}
	return fmt.Sprint(t)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// LogWriter writes records in the LevelDB log format.
type LogWriter struct {
	w   *bufio.Writer
	off int64 // bytes written
	hdr [headerSize]byte
}

// NewLogWriter writes records to w. Call Flush at the end.
func NewLogWriter(w io.Writer) *LogWriter {
	return &LogWriter{w: bufio.NewWriterSize(w, 256<<10)}
}

// Size is the number of bytes written so far.
func (lw *LogWriter) Size() int64 { return lw.off }

var zeros [headerSize]byte

// Write appends one record.
func (lw *LogWriter) Write(rec []byte) error {
	if len(rec) > MaxRecordBytes {
		return errors.New("record too long")
	}
	first := true
	for {
		left := blockSize - int(lw.off%blockSize)
		if left < headerSize {
			if _, err := lw.w.Write(zeros[:left]); err != nil {
				return err
			}
			lw.off += int64(left)
			left = blockSize
		}
		avail := left - headerSize
		n := min(len(rec), avail)
		last := n == len(rec)
		var typ byte
		switch {
		case first && last:
			typ = recFull
		case first:
			typ = recFirst
		case last:
			typ = recLast
		default:
			typ = recMiddle
		}
		binary.LittleEndian.PutUint32(lw.hdr[0:4], recordCRC(typ, rec[:n]))
		binary.LittleEndian.PutUint16(lw.hdr[4:6], uint16(n))
		lw.hdr[6] = typ
		if _, err := lw.w.Write(lw.hdr[:]); err != nil {
			return err
		}
		if _, err := lw.w.Write(rec[:n]); err != nil {
			return err
		}
		lw.off += int64(headerSize + n)
		rec = rec[n:]
		first = false
		if last {
			return nil
		}
	}
}

// Flush writes buffered data to the underlying writer.
func (lw *LogWriter) Flush() error { return lw.w.Flush() }
