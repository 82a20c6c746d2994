// Package storage opens the data files of fbadmin's commands by name: a
// local path, "-" (stdin or stdout), a file:// URL, a Cloud Storage object
// (gs://bucket/key) or an S3 object (s3://bucket/key?region=R&endpoint=E),
// through gocloud.dev/blob. Everything streams: nothing is buffered whole.
//
// # Names
//
// [Parse] turns an argument into a [Location]. A location whose key is empty
// or ends in "/" (or, locally, an existing directory) is a prefix, under
// which [Location.Join] names objects. Errors name the location as
// [Location.String] prints it, which never holds credentials: a URL with a
// user or password in it is refused.
//
// # Reading and writing
//
// [Open] returns a [Reader] that decompresses by extension (".gz" gzip,
// ".zst" zstd) and knows the object's [Info]: its size and version (the
// generation of a Cloud Storage object, the ETag of an S3 object, empty
// for a local file). A reader of an object is pinned to the version it was
// opened at, so that a second read of the same object either sees the same
// bytes or fails. [Create] returns a [Writer] that compresses by extension
// and whose output appears only when [Writer.Close] succeeds: a local file
// is written as NAME.partial and renamed, an object upload is abandoned by
// [Writer.Abort] or by a failed or cancelled write.
//
// # Credentials
//
// Cloud Storage uses application-default credentials, or none when
// STORAGE_EMULATOR_HOST names a local emulator (fake-gcs-server). S3 uses
// the AWS SDK's default chain (environment, shared config and credential
// files, instance roles); the URL's query sets region, endpoint and
// use_path_style as gocloud.dev documents.
//
// # Split exports
//
// A [SplitWriter] writes a stream of lines as several objects under a
// prefix (part-00000.ndjson, ...) and a [Manifest] (manifest.json) that
// lists them with their document counts, sizes and CRC-32C checksums;
// [ReadManifest] reads it back.
//
// # Errors
//
// Errors are classified with internal/errs: a missing object or bucket is
// errs.ErrNotFound, refused access errs.ErrPermission, missing credentials
// errs.ErrUnauthenticated, a bad URL errs.ErrInvalid, an object that changed
// under a pinned reader errs.ErrConflict.
package storage
