package storage

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Kind says where a [Location] is.
type Kind int

// The kinds of location.
const (
	Local Kind = iota // a local file or directory (a path or a file:// URL)
	Stdio             // "-": stdin or stdout
	GCS               // gs://bucket/key
	S3                // s3://bucket/key?settings
)

// Location is a parsed data-file argument.
type Location struct {
	Kind Kind
	// Path is the local path (Local).
	Path string
	// Bucket and Key name an object (GCS, S3); Key may be empty or end
	// in "/" for a prefix.
	Bucket, Key string
	// Query holds the bucket settings of an s3:// URL (region, endpoint,
	// use_path_style, ...).
	Query url.Values
}

// urlHint follows errors about a malformed URL.
const urlHint = "hint: give a local path, - for stdin/stdout, file:///abs/path, gs://BUCKET/OBJECT or s3://BUCKET/OBJECT?region=REGION"

// s3Settings are the query parameters an s3:// URL may carry (gocloud.dev's
// aws.V2ConfigFromURLParams and s3blob.URLOpener).
var s3Settings = []string{"region", "endpoint", "profile", "hostname_immutable", "dualstack", "fips", "anonymous",
	"rate_limiter_capacity", "role", "role_session_name", "role_external_id", "role_duration", "web_identity_token_file",
	"request_checksum_calculation", "response_checksum_validation",
	"use_path_style", "s3ForcePathStyle", "disable_https", "ssetype", "kmskeyid", "accelerate"}

// Parse turns an argument into a Location. Anything that is not "-" and does
// not start with SCHEME:// is a local path. A URL's own errors (an unknown
// scheme, a missing bucket, credentials in it, an unknown setting) are
// errs.ErrInvalid with a hint.
func Parse(arg string) (Location, error) {
	switch {
	case arg == "":
		return Location{}, errs.New(errs.ErrInvalid, "", "", "empty file name (%s)", urlHint)
	case arg == "-":
		return Location{Kind: Stdio}, nil
	}
	scheme, rest, ok := strings.Cut(arg, "://")
	if !ok || !isScheme(scheme) {
		return Location{Kind: Local, Path: arg}, nil
	}
	u, err := url.Parse(arg)
	if err != nil {
		// The parser's message repeats the URL, which may hold a secret.
		return Location{}, errs.New(errs.ErrInvalid, "", "", "%s://...: not a valid URL (%s)", scheme, urlHint)
	}
	shown := u.Redacted()
	if u.User != nil {
		shown = scheme + "://" + hostOf(rest)
	}
	if u.User != nil {
		return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: credentials do not belong in the URL: use application-default credentials for gs:// and the AWS credential chain for s3://", shown)
	}
	switch strings.ToLower(scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: a file URL has no host: write file:///abs/path (three slashes) or a plain path", arg)
		}
		if u.Path == "" || len(u.Query()) > 0 {
			return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: want file:///abs/path, without settings", arg)
		}
		return Location{Kind: Local, Path: filepath.FromSlash(u.Path)}, nil
	case "gs", "s3":
		if u.Host == "" {
			return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: no bucket (%s)", shown, urlHint)
		}
		l := Location{Kind: GCS, Bucket: u.Host, Key: strings.TrimPrefix(u.Path, "/")}
		q := u.Query()
		if strings.ToLower(scheme) == "s3" {
			l.Kind = S3
			for k := range q {
				if !slices.Contains(s3Settings, k) {
					return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: unknown setting %q (known: region, endpoint, use_path_style, disable_https, profile, anonymous, ...)", l.String(), k)
				}
			}
			l.Query = q
		} else if len(q) > 0 {
			return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: gs:// URLs take no settings (credentials: application-default; a local emulator: STORAGE_EMULATOR_HOST)", l.String())
		}
		if strings.Contains("/"+l.Key+"/", "/../") || strings.Contains("/"+l.Key+"/", "/./") || strings.Contains(l.Key, "//") {
			return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: an object name with an empty, . or .. segment", l.String())
		}
		return l, nil
	}
	return Location{}, errs.New(errs.ErrInvalid, "", "", "%s: unsupported scheme %q (%s)", shown, scheme, urlHint)
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// hostOf is what a URL's rest shows before its path, without a user.
func hostOf(rest string) string {
	h, _, _ := strings.Cut(rest, "/")
	h, _, _ = strings.Cut(h, "?")
	if i := strings.LastIndex(h, "@"); i >= 0 {
		h = "..." + h[i:]
	}
	return h
}

// String is the location as the user knows it, for messages: the path, or
// the URL (an s3:// URL with its settings).
func (l Location) String() string {
	switch l.Kind {
	case Stdio:
		return "-"
	case Local:
		return l.Path
	}
	scheme := "gs"
	if l.Kind == S3 {
		scheme = "s3"
	}
	s := scheme + "://" + l.Bucket + "/" + l.Key
	if len(l.Query) > 0 {
		s += "?" + l.Query.Encode()
	}
	return s
}

// Remote reports whether l is an object in a bucket.
func (l Location) Remote() bool { return l.Kind == GCS || l.Kind == S3 }

// Base is the last element of the name (the object or file name).
func (l Location) Base() string {
	switch l.Kind {
	case Stdio:
		return "stdin"
	case Local:
		return filepath.Base(l.Path)
	}
	return path.Base(strings.TrimSuffix(l.Key, "/"))
}

// Name is the name whose extension decides the compression: the key or
// the path.
func (l Location) Name() string {
	if l.Remote() {
		return l.Key
	}
	return l.Path
}

// IsPrefix reports whether l names a prefix rather than an object: an empty
// key or one ending in "/", or locally a path ending in a separator or an
// existing directory.
func (l Location) IsPrefix() bool {
	switch l.Kind {
	case GCS, S3:
		return l.Key == "" || strings.HasSuffix(l.Key, "/")
	case Local:
		if strings.HasSuffix(l.Path, "/") || strings.HasSuffix(l.Path, string(filepath.Separator)) {
			return true
		}
		st, err := os.Stat(l.Path)
		return err == nil && st.IsDir()
	}
	return false
}

// Join names the object name under the prefix l.
func (l Location) Join(name string) Location {
	switch l.Kind {
	case GCS, S3:
		k := l.Key
		if k != "" && !strings.HasSuffix(k, "/") {
			k += "/"
		}
		l.Key = k + name
	case Local:
		l.Path = filepath.Join(l.Path, filepath.FromSlash(name))
	}
	return l
}

// Dir is the prefix holding l (the object's "directory").
func (l Location) Dir() Location {
	switch l.Kind {
	case GCS, S3:
		k := strings.TrimSuffix(l.Key, "/")
		if i := strings.LastIndex(k, "/"); i >= 0 {
			l.Key = k[:i+1]
		} else {
			l.Key = ""
		}
	case Local:
		l.Path = filepath.Dir(l.Path)
	}
	return l
}
