package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// job is a bulk operation running in the background (an import, a
// recursive delete), its progress polled by its page.
type job struct {
	ID      string
	Kind    string
	Target  string
	Back    string
	total   atomic.Int64
	done    atomic.Int64
	failed  atomic.Int64
	mu      sync.Mutex
	state   string // running, done, failed
	err     string
	started time.Time
	ended   time.Time
	// file is an export's result, offered for download (as name) once the
	// job is done; removed when the console stops.
	file, name string
}

func (j *job) setFile(file, name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.file, j.name = file, name
}

// SetTotal and Add make a job a transfer.Progress.
func (j *job) SetTotal(n int64)        { j.total.Store(n) }
func (j *job) Add(docs, _ int64)       { j.done.Add(docs) }
func (j *job) fail(f transfer.Failure) { j.failed.Add(1) }

type jobStatus struct {
	ID      string  `json:"id"`
	Kind    string  `json:"kind"`
	Target  string  `json:"target"`
	State   string  `json:"state"`
	Done    int64   `json:"done"`
	Total   int64   `json:"total"`
	Failed  int64   `json:"failed"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
	// Download is the URL of an export's file (once the job is done).
	Download string `json:"download,omitempty"`
	Back     string `json:"-"`
}

func (j *job) status() jobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	end := j.ended
	if end.IsZero() {
		end = time.Now()
	}
	st := jobStatus{ID: j.ID, Kind: j.Kind, Target: j.Target, State: j.state, Done: j.done.Load(), Total: j.total.Load(),
		Failed: j.failed.Load(), Error: j.err, Seconds: end.Sub(j.started).Seconds(), Back: j.Back}
	if j.file != "" && j.state == "done" {
		st.Download = "/jobs/" + j.ID + "/download"
	}
	return st
}

// jobDownload serves an export job's file.
func (s *Server) jobDownload(w http.ResponseWriter, r *http.Request) {
	j := s.jobOf(r)
	if j == nil {
		s.renderError(w, r, errs.New(errs.ErrNotFound, "job", "", "no such job (jobs are kept until the console stops)"))
		return
	}
	j.mu.Lock()
	file, name, state := j.file, j.name, j.state
	j.mu.Unlock()
	if file == "" || state != "done" {
		s.renderError(w, r, errs.New(errs.ErrNotFound, "job", j.ID, "no file to download (the job is %s)", state))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name))
	http.ServeFile(w, r, file)
}

// removeJobFiles deletes the exports' files (at Close).
func (s *Server) removeJobFiles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.file != "" {
			os.Remove(j.file)
		}
		j.mu.Unlock()
	}
}

// startJob runs fn in the background under the console's lifetime.
func (s *Server) startJob(kind, tgt, back string, fn func(ctx context.Context, j *job) error) *job {
	j := &job{ID: randomHex(8), Kind: kind, Target: tgt, Back: back, state: "running", started: time.Now()}
	s.mu.Lock()
	s.jobs[j.ID] = j
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fn(s.ctx, j)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.ended = time.Now()
		switch {
		case err != nil:
			j.state, j.err = "failed", err.Error()
		case j.failed.Load() > 0:
			j.state, j.err = "failed", fmt.Sprintf("%d documents could not be written or deleted", j.failed.Load())
		default:
			j.state = "done"
		}
		s.log.Info("job", "kind", kind, "state", j.state, "docs", j.done.Load(), "failed", j.failed.Load())
	}()
	return j
}

func (s *Server) jobOf(r *http.Request) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[r.PathValue("id")]
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	j := s.jobOf(r)
	if j == nil {
		s.renderError(w, r, errs.New(errs.ErrNotFound, "job", "", "no such job (jobs are kept until the console stops)"))
		return
	}
	s.render(w, r, http.StatusOK, "job", j.Kind, j.status())
}

func (s *Server) apiJob(w http.ResponseWriter, r *http.Request) {
	j := s.jobOf(r)
	if j == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	writeJSON(w, http.StatusOK, j.status())
}

// ---- recursive delete

type deleteView struct {
	Path     string
	IsDoc    bool
	Count    int64
	Sample   []string
	Error    string
	Typed    string
	BackHref string
}

// deleteSample is how many paths the dry run shows.
const deleteSample = 20

func (s *Server) dryRun(ctx context.Context, db *transfer.DB, rel string) (int64, []string, error) {
	var (
		mu     sync.Mutex
		sample []string
	)
	st, err := transfer.Delete(ctx, db, transfer.DeleteOptions{Paths: []string{rel}, Recursive: true, DryRun: true, Journal: transfer.NoJournal,
		OnPath: func(p string) {
			mu.Lock()
			defer mu.Unlock()
			if len(sample) < deleteSample {
				sample = append(sample, p)
			}
		}})
	return st.Docs, sample, err
}

func (s *Server) deleteTarget(r *http.Request) (string, error) {
	rel, err := s.conn(r).db.CleanPath(pathValue(r), false)
	if err != nil {
		return "", errorf("delete %q: %v", pathValue(r), err)
	}
	return rel, nil
}

func backOf(rel string) string {
	if transfer.IsDocPath(rel) {
		return "/d/" + escapePath(rel)
	}
	return "/c/" + escapePath(rel)
}

func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) {
	rel, err := s.deleteTarget(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	n, sample, err := s.dryRun(r.Context(), s.conn(r).db, rel)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "delete", "Delete "+rel, deleteView{Path: rel, IsDoc: transfer.IsDocPath(rel), Count: n, Sample: sample, BackHref: backOf(rel)})
}

// deleteTree deletes a collection or document and everything below it,
// once the path has been typed again as confirmation.
func (s *Server) deleteTree(w http.ResponseWriter, r *http.Request) {
	rel, err := s.deleteTarget(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if typed := r.PostFormValue("confirm"); typed != rel {
		n, sample, err := s.dryRun(r.Context(), s.conn(r).db, rel)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		msg := fmt.Sprintf("type the path %s exactly to confirm; nothing was deleted", rel)
		if typed != "" {
			msg = fmt.Sprintf("%q is not %s: nothing was deleted; type the path exactly to confirm", typed, rel)
		}
		s.render(w, r, http.StatusBadRequest, "delete", "Delete "+rel, deleteView{Path: rel, IsDoc: transfer.IsDocPath(rel), Count: n, Sample: sample, Error: msg, Typed: typed, BackHref: backOf(rel)})
		return
	}
	back := "/"
	if p := parentCollection(rel); p != "" {
		back = "/c/" + escapePath(p)
	}
	j := s.startJob("recursive delete", rel, back, func(ctx context.Context, j *job) error {
		_, err := transfer.Delete(ctx, s.conn(r).db, transfer.DeleteOptions{Paths: []string{rel}, Recursive: true, Journal: transfer.NoJournal,
			Progress: j, OnFailure: j.fail})
		return err
	})
	http.Redirect(w, r, "/jobs/"+j.ID, http.StatusSeeOther)
}

// parentCollection is the collection a deleted path leaves to look at:
// a document's collection, a subcollection's parent's collection, or ""
// for a top-level collection (the home page).
func parentCollection(rel string) string {
	segs := splitPath(rel)
	if transfer.IsDocPath(rel) {
		return joinPath(segs[:len(segs)-1])
	}
	if len(segs) >= 3 {
		return joinPath(segs[:len(segs)-2])
	}
	return ""
}

// ---- import

// maxUpload caps an uploaded import file.
const maxUpload = 1 << 30

func (s *Server) importFile(w http.ResponseWriter, r *http.Request) {
	if r.MultipartForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			s.renderError(w, r, errorf("import: want a multipart form with the file in field file (%v)", err))
			return
		}
	}
	mode, err := transfer.ParseMode(formValue(r, "mode"))
	if formValue(r, "mode") == "" {
		mode, err = transfer.ModeCreate, nil
	}
	if err != nil {
		s.renderError(w, r, errorf("import mode %q: %v", formValue(r, "mode"), err))
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		s.renderError(w, r, errorf("import: choose an NDJSON export file first (%v)", err))
		return
	}
	defer f.Close()
	tmp, err := os.CreateTemp("", "fbadmin-console-import-*.ndjson")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if _, err := io.Copy(tmp, f); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		s.renderError(w, r, errorf("import: reading the upload: %v", err))
		return
	}
	tmp.Close()
	// Validate before starting: a bad line is an error on this page, with
	// its line number, and nothing is written.
	if _, err := transfer.Validate(r.Context(), tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		// The temporary file's name means nothing to the user: its lines do.
		msg := err.Error()
		for _, n := range []string{tmp.Name(), filepath.Base(tmp.Name())} {
			msg = strings.ReplaceAll(msg, n+":", "line ")
		}
		s.renderError(w, r, errorf("import %s: %s (nothing was written)", hdr.Filename, msg))
		return
	}
	back := safeNext(formValue(r, "next"))
	j := s.startJob("import", hdr.Filename, back, func(ctx context.Context, j *job) error {
		defer os.Remove(tmp.Name())
		_, err := transfer.Import(ctx, s.conn(r).db, tmp.Name(), transfer.ImportOptions{Mode: mode, Journal: transfer.NoJournal, Progress: j, OnFailure: j.fail})
		return err
	})
	http.Redirect(w, r, "/jobs/"+j.ID, http.StatusSeeOther)
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

func joinPath(segs []string) string {
	out := ""
	for i, s := range segs {
		if i > 0 {
			out += "/"
		}
		out += s
	}
	return out
}
