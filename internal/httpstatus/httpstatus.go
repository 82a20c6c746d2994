// Package httpstatus records the status code a handler writes, for the
// request logs and metrics of fbadmin's HTTP servers (serve, console).
package httpstatus

import "net/http"

// Writer is an http.ResponseWriter that remembers the first status code
// written. It passes Flush through, and Unwrap lets
// http.ResponseController (and a WebSocket upgrade) reach the writer
// beneath.
type Writer struct {
	http.ResponseWriter
	status int
}

// Wrap returns w wrapped in a Writer.
func Wrap(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Status is the status code written: 200 when the handler wrote a body
// without one, or nothing at all.
func (w *Writer) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// WriteHeader records code and writes it.
func (w *Writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the writer beneath when it can.
func (w *Writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the writer beneath.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
