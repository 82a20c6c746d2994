package errs

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Messages captured from the Firestore emulator (firebase-tools' cloud-firestore-emulator).
func TestUserTerms(t *testing.T) {
	tests := []struct{ in, want string }{
		{
			`entity already exists: EntityRef{partitionRef=dev~demo-item8-30881, path=/users/alice}`,
			`document users/alice already exists`,
		},
		{
			`entity already exists: EntityRef{partitionRef=dev~demo-item8c-30881#other, path=/users/alice/posts/p1}`,
			`document users/alice/posts/p1 already exists`,
		},
		{
			`no entity to update: app: "dev~demo-item8-30881" path < Element { type: "users" name: "nobody" } >`,
			`no document users/nobody to update`,
		},
		{
			`no entity to update: app: "dev~demo-item8c-30881" path < Element { type: "users" name: "nob\"dy" } Element { type: "x" name: "1" } > database_id: "other"`,
			`no document users/nob"dy/x/1 to update`,
		},
		{
			// As the emulator sends it, before fbadmin's error line folds the whitespace.
			"no entity to update: app: \"dev~demo-e2e-4833560dd1\"\npath <\n  Element {\n    type: \"users\"\n    name: \"zed\"\n  }\n>\n",
			`no document users/zed to update`,
		},
		{
			`no entity to update: app: "dev~p" path < Element { type: "users" id: 42 } >`,
			`no document users/42 to update`,
		},
		{
			`the stored version (1796496618914553) does not match the required base version (1577836800000000)`,
			`the document's update time is 2026-12-05T18:50:18.914553Z, not 2020-01-01T00:00:00Z as required`,
		},
		{
			`precondition failed: version 1733400000123456 is stale`,
			`precondition failed: update time 2024-12-05T12:00:00.123456Z is stale`,
		},
		{`no document to update: projects/p/databases/(default)/documents/users/x`, `no document to update: projects/p/databases/(default)/documents/users/x`},
		{`invalid version of the API`, `invalid version of the API`},
	}
	for _, tt := range tests {
		if got := userTerms(tt.in); got != tt.want {
			t.Errorf("userTerms(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorSaysEmulatorMessagesInUserTerms(t *testing.T) {
	cause := status.Error(codes.AlreadyExists, `entity already exists: EntityRef{partitionRef=dev~demo-x, path=/users/alice}`)
	got := Wrap(cause, "create", "users/alice").Error()
	want := "create users/alice: already exists: document users/alice already exists"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
