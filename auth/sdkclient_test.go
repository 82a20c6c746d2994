package auth

import (
	"context"
	"testing"

	"google.golang.org/api/option"
)

// TestNewSDKClient builds the Admin SDK's Auth client the way New does,
// through the reflective path of newSDKClient, without any network call
// (emulator mode): an SDK upgrade that changes auth.NewClient or its
// configuration fails here.
func TestNewSDKClient(t *testing.T) {
	c, err := withEmulatorEnv("127.0.0.1:1", func() (any, error) {
		return newSDKClient(context.Background(), "demo-sdkclient", []option.ClientOption{option.WithoutAuthentication()})
	})
	if err != nil || c == nil {
		t.Fatalf("newSDKClient: %v, %v", c, err)
	}
	if v := sdkVersion(); v == "" || v[0] < '4' || v[0] > '9' {
		t.Errorf("sdkVersion() = %q, want the module's version, such as 4.19.0", v)
	}
}
