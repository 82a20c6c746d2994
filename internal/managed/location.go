package managed

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
)

// LocationStore is a Store over a prefix of internal/storage: a local
// directory, a Cloud Storage or an S3 prefix.
type LocationStore struct{ Root storage.Location }

// Open opens the object name below the prefix.
func (s LocationStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.Root.Join(name).Open(ctx)
}

// Create creates the object name below the prefix.
func (s LocationStore) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	return s.Root.Join(name).Create(ctx)
}

// List lists the objects directly below dir (not sub-prefixes).
func (s LocationStore) List(ctx context.Context, dir string) ([]string, error) {
	l := s.Root
	if dir != "" {
		l = l.Join(dir)
	}
	infos, err := l.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Name
	}
	return out, nil
}

func (s LocationStore) String() string { return s.Root.String() }

// Locate interprets a command-line argument as a managed export: a local
// directory, a gs:// or s3:// prefix, or the overall metadata file itself
// (local or an object). It returns the store of the export's root, the
// metadata file within it ("" to be found by [FindMetadata]), and false
// when arg does not look like a managed export (a file or object of
// another name, "-").
func Locate(ctx context.Context, arg string) (Store, string, bool, error) {
	l, err := storage.Parse(arg)
	if err != nil {
		return nil, "", false, err
	}
	switch l.Kind {
	case storage.Local:
		st, err := os.Stat(l.Path)
		if err == nil && st.IsDir() {
			return DirStore(l.Path), "", true, nil
		}
		if IsMetadataName(l.Path) {
			return DirStore(filepath.Dir(l.Path)), filepath.Base(l.Path), true, nil
		}
		return nil, "", false, nil
	case storage.GCS, storage.S3:
		if IsMetadataName(l.Key) {
			return LocationStore{l.Dir()}, l.Base(), true, nil
		}
		if l.IsPrefix() {
			return LocationStore{l}, "", true, nil
		}
		// gs://bucket/prefix without a slash: a prefix when it holds an
		// export's metadata file.
		root := l
		root.Key += "/"
		names, err := (LocationStore{root}).List(ctx, "")
		if err != nil {
			return nil, "", false, nil
		}
		for _, n := range names {
			if IsMetadataName(n) {
				return LocationStore{root}, "", true, nil
			}
		}
		return nil, "", false, nil
	}
	return nil, "", false, nil
}

// IsOutputStore reports whether arg names a directory or prefix (where a
// managed export is written) rather than a file.
func IsOutputStore(arg string) bool {
	l, err := storage.Parse(arg)
	if err != nil {
		return false
	}
	switch l.Kind {
	case storage.Local:
		return l.IsPrefix() || filepath.Ext(l.Path) == ""
	case storage.GCS, storage.S3:
		return l.IsPrefix() || !strings.Contains(l.Base(), ".")
	}
	return false
}

// CreateStore returns the Store where an export named after arg's last
// element is written.
func CreateStore(arg string) (Store, string, error) {
	l, err := storage.Parse(arg)
	if err != nil {
		return nil, "", err
	}
	name := l.Base()
	switch l.Kind {
	case storage.Local:
		return DirStore(l.Path), name, nil
	case storage.GCS, storage.S3:
		if !strings.HasSuffix(l.Key, "/") {
			l.Key += "/"
		}
		if name == "" || name == "." {
			name = "export"
		}
		return LocationStore{l}, name, nil
	}
	return nil, "", errs.New(errs.ErrInvalid, "managed export", arg, "a managed export is a directory or a gs:// or s3:// prefix, not stdin/stdout")
}
