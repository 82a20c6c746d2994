package errs

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The Firestore emulator's error messages name documents and versions by
// its Java internals: "EntityRef{partitionRef=dev~P, path=/users/alice}",
// `app: "dev~P" path < Element { type: "users" name: "alice" } >` and
// microseconds since the epoch ("the stored version (1733400000123456)").
// userTerms rewrites those in the user's terms: document paths relative to
// the database root, as fbadmin takes them, and RFC 3339 times, as fs get
// prints them. Other messages pass through unchanged.
var (
	entityRefRE = regexp.MustCompile(`EntityRef\{partitionRef=[^,}]*, path=/([^}]*)\}`)
	keyRE       = regexp.MustCompile(`app:\s*"[^"]*"\s*path\s*<((?:\s*Element\s*\{\s*type:\s*"(?:[^"\\]|\\.)*"\s*(?:name:\s*"(?:[^"\\]|\\.)*"|id:\s*\d+)\s*\})*)\s*>(?:\s*database_id:\s*"[^"]*")?\s*`)
	elementRE   = regexp.MustCompile(`Element\s*\{\s*type:\s*("(?:[^"\\]|\\.)*")\s*(?:name:\s*("(?:[^"\\]|\\.)*")|id:\s*(\d+))\s*\}`)
	versionsRE  = regexp.MustCompile(`the stored version \((\d{13,19})\) does not match the required base version \((\d{13,19})\)`)
	versionRE   = regexp.MustCompile(`version \(?(\d{13,19})\)?`)
	existsRE    = regexp.MustCompile(`^entity already exists: (\S+)$`)
	noUpdateRE  = regexp.MustCompile(`^no entity to update: (.+)$`)
)

func userTerms(msg string) string {
	if !strings.Contains(msg, "EntityRef{") && !strings.Contains(msg, "Element") && !strings.Contains(msg, "version") {
		return msg
	}
	msg = entityRefRE.ReplaceAllString(msg, "$1")
	msg = keyRE.ReplaceAllStringFunc(msg, func(key string) string {
		var segs []string
		for _, m := range elementRE.FindAllStringSubmatch(key, -1) {
			id := m[3]
			if m[2] != "" {
				id = unquote(m[2])
			}
			segs = append(segs, unquote(m[1]), id)
		}
		return strings.Join(segs, "/")
	})
	msg = versionsRE.ReplaceAllStringFunc(msg, func(s string) string {
		m := versionsRE.FindStringSubmatch(s)
		return "the document's update time is " + micros(m[1]) + ", not " + micros(m[2]) + " as required"
	})
	msg = versionRE.ReplaceAllStringFunc(msg, func(s string) string {
		return "update time " + micros(versionRE.FindStringSubmatch(s)[1])
	})
	msg = existsRE.ReplaceAllString(msg, "document $1 already exists")
	msg = noUpdateRE.ReplaceAllString(msg, "no document $1 to update")
	return msg
}

// micros renders microseconds since the Unix epoch as an RFC 3339 UTC time.
func micros(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	return time.UnixMicro(n).UTC().Format(time.RFC3339Nano)
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return strings.Trim(s, `"`)
}
