// Package managed reads and writes Firestore's managed export format, the
// files that `gcloud firestore export` (and the Firestore emulator) write
// and `gcloud firestore import` (and the emulator's --import-data) read,
// so that fbadmin can convert them to and from its NDJSON and import them
// into any database without Google's tools.
//
// # Layout
//
// An export is a directory (or object prefix) NAME holding
//
//	NAME.overall_export_metadata                       the export's pointers
//	all_namespaces/all_kinds/all_namespaces_all_kinds.export_metadata
//	all_namespaces/all_kinds/output-0, output-1, ...   the documents
//
// or, for an export of some collection IDs, one all_namespaces/kind_ID/
// directory per collection ID. [Open] reads the metadata ([FindMetadata]
// finds it in a directory) and [Export.Read] streams the documents;
// [Writer] writes an export as the emulator lays it out.
//
// # Files
//
// Output files are LevelDB logs ([LogReader], [LogWriter]): 32 KiB blocks
// of records with 7-byte headers (masked CRC-32C of type and payload,
// length, type FULL, FIRST, MIDDLE or LAST). Each record is one document,
// an App Engine storage_onestore_v3 EntityProto ([DecodeEntity],
// [AppendEntity]): the key (app "dev~PROJECT", the path as
// collection/document elements, the database ID unless it is the
// default one) and one Property per value, whose meaning gives the
// Firestore type: GD_WHEN for timestamps (microseconds), BLOB for bytes,
// GEORSS_POINT for geopoints, ENTITY_PROTO for maps (a nested
// EntityProto), EMPTY_LIST for an empty array, VECTOR for the doubles
// of a vector; array elements are properties of the same name with
// multiple set. docs/managed-export.md has the whole mapping.
//
// # Errors
//
// A damaged file (bad checksum, truncated block or record) or an entity
// that is not a Firestore document (an unknown field, an unknown meaning,
// a user value) is a [*CorruptError] naming the file and the byte offset
// of the record; it unwraps to errs.ErrInvalid.
//
// # Memory
//
// Files are read one 32 KiB block and one record at a time and written
// through a 256 KiB buffer, so memory does not grow with the export.
package managed
