package transfer_test

import (
	"context"
	"fmt"
	"os"

	"github.com/fbadmin/fbadmin/internal/transfer"
)

// Export a collection with its subcollections to a file, then import it
// into another project, overwriting what is there.
func Example() {
	ctx := context.Background()
	src, err := transfer.Open(ctx, transfer.Config{Project: "demo-source", EmulatorHost: "127.0.0.1:8080"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	f, err := os.CreateTemp("", "users-*.ndjson")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	if _, err := transfer.Export(ctx, src, f, transfer.ExportOptions{Paths: []string{"users"}}); err != nil {
		fmt.Println(err)
		return
	}
	f.Close()

	dst, err := transfer.Open(ctx, transfer.Config{Project: "demo-target", EmulatorHost: "127.0.0.1:8080"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dst.Close()
	st, err := transfer.Import(ctx, dst, f.Name(), transfer.ImportOptions{Mode: transfer.ModeSet})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Failed, "failed")
}

func ExampleParseLine() {
	path, data, err := transfer.ParseLine([]byte(`{"path":"users/alice","data":{"age":{"$int":"30"},"tags":["a"]}}`))
	fmt.Println(path, data["age"], data["tags"], err)
	// Output: users/alice 30 [a] <nil>
}
