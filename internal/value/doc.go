// Package value is fbadmin's lossless codec between Firestore values and
// JSON: the format of exports, imports and every command that prints or
// reads document data.
//
// On the Go side a value is what the Firestore SDK's DocumentSnapshot.Data
// returns: nil, bool, int64, float64, string, []byte, time.Time,
// *latlng.LatLng, *firestore.DocumentRef, []any, map[string]any and
// firestore.Vector64. [Decode] and [DecodeMap] always return those types;
// [Encode] and [EncodeMap] also take the other Go values the SDK writes the
// same way (int, int32, float32, firestore.Vector32, []string,
// []map[string]any, named types, pointers...). [Equal] compares two values
// as Firestore would.
//
// # Format
//
// Each Firestore type has exactly one JSON form, so that decoding and
// encoding again gives the same bytes, and no value is lost or changed on
// the way (full int64 range, NaN, infinities and negative zero, nanosecond
// timestamps, bytes):
//
//	null, boolean, string    plain JSON: null, true, "text"
//	array                    plain JSON array: [{"$int":"1"},"a"]
//	map                      plain JSON object: {"name":"Ada"}
//	integer (int64)          {"$int":"9223372036854775807"}
//	double (float64)         {"$double":1.5}  {"$double":1}  {"$double":"NaN"}
//	                         {"$double":"Infinity"}  {"$double":"-Infinity"}  {"$double":"-0"}
//	bytes                    {"$bytes":"AAEC"}  (standard base64, padded)
//	timestamp                {"$timestamp":"2024-01-02T03:04:05.123456789Z"}
//	geopoint                 {"$geopoint":{"latitude":48.85,"longitude":2.35}}
//	reference                {"$ref":"projects/P/databases/(default)/documents/users/alice"}
//	vector                   {"$vector":[1,2.5]}
//
// A typed form is an object with exactly one key that starts with "$". An
// integer is a decimal string, never a JSON number, so that no JSON reader
// rounds it through a float64. Doubles are JSON numbers (integral ones too:
// {"$double":1} stays a double), except NaN, the infinities and negative
// zero, which are the strings shown; the same rule applies to the
// coordinates of a geopoint and the elements of a vector. Timestamps are
// RFC 3339 in UTC with as many fractional digits as needed (up to nine).
// A reference is the document's full resource name, database included.
//
// Objects with several keys are always plain maps, even when some keys
// start with "$". A map whose only key starts with "$" would read as a
// typed form, so Encode escapes it: the map {"$int": "x"} is written
// {"$map":{"$int":"x"}}. Decoding {"$map": {...}} gives the inner object as
// a map without looking for a typed form at that level (its values are
// decoded as usual). A single-key object with an unknown "$" tag is an
// error, so a typo such as {"$itn":"1"} is caught rather than imported as a
// map.
//
// Encoding writes no white space and sorts object keys by their bytes, so
// equal values give equal output; one encoded value never contains a line
// break, which makes it fit for NDJSON. Decode reads any white space.
//
// # Hand-written input
//
// Decode also takes a plain JSON number, for input typed by a person: a
// number without fraction or exponent is an int64 (one that does not fit is
// an error, never silently a double), any other number is a float64. Within
// typed forms it accepts {"$int": 42} as well as {"$int": "42"}, a JSON
// number or the string "-0" for negative zero, and timestamps with any UTC
// offset ("2024-01-02T04:04:05+01:00"). Encode never writes these forms.
//
// # Errors
//
// Every error is a [*PathError] naming the offending value by its JSON
// path, such as `$.address.zip`, `$.tags[2]` or `$["first name"]` (keys
// that are not identifiers are quoted, and keys starting with "$" are
// among them: `$.m["$map"].x`), and unwraps to errs.ErrInvalid:
//
//	$.age: {"$int":"12x"}: invalid int64 "12x" (want a decimal string like "-42")
//
// Decode rejects malformed JSON, invalid UTF-8 (and escaped lone
// surrogates), repeated keys in one object, trailing data, and nesting
// deeper than [MaxDepth]. It never panics, whatever the input.
//
// # References
//
// A decoded reference is a *firestore.DocumentRef with Path and ID set and
// a Parent chain of CollectionRefs and DocumentRefs (each with Path, ID and
// Parent), which is all the SDK reads when it writes a reference. The refs
// belong to no client, so their methods that do I/O (Get, Set,
// Collection, Documents...) must not be called: to act on the document,
// rebuild a ref from the client, for example client.Doc with the part of
// Path after "/documents/".
//
// # Protocol buffers
//
// [DecodeProto] reads the same format straight into Firestore's protocol
// buffer values, and [AppendFieldsProto] straight into their encoded bytes,
// with the same checks and errors as [Decode] and [DecodeMap];
// [CheckProto] checks a value as fully but builds only its top
// levels (the cheap way to validate a file before importing it). The bulk
// import uses them so that no Go value or message is built per field.
//
// # Limits
//
// The format can express what Firestore refuses to store (an array directly
// inside an array, out-of-range coordinates, an empty vector): it carries
// values, the server validates documents. Strings must be valid UTF-8 and
// timestamps must fall in years 0001 to 9999, as in Firestore.
package value
