package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/webhook"
)

// An endpoint checks signature, timestamp and batch ID before applying a
// batch; a replay is acknowledged but not applied again.
func ExampleReceiver() {
	rc := &webhook.Receiver{Secret: "shared-secret"}
	handler := rc.Handler(func(_ context.Context, evs []listeners.Event) error {
		fmt.Println("applied", len(evs), "events")
		return nil
	})

	body := `{"events":[]}`
	for _, sig := range []string{
		webhook.Sign("shared-secret", []byte(body)),                               // fresh
		webhook.Sign("shared-secret", []byte(body)),                               // the same batch again
		webhook.SignAt("shared-secret", time.Now().Add(-time.Hour), []byte(body)), // captured an hour ago
		"t=1,v1=00", // forged
	} {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, sig)
		req.Header.Set(webhook.BatchHeader, "4f0c")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// applied 0 events
	// 204
	// 204
	// 401
	// 401
}
