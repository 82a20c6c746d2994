package auth

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"

	fbauth "firebase.google.com/go/v4/auth"
	"google.golang.org/api/option"
	"google.golang.org/api/transport"
)

// The Admin SDK's usual entry point, firebase.NewApp(...).Auth(ctx), lives in
// the SDK's root package, which also links every other Firebase service:
// Cloud Storage (with gRPC's xDS stack, OpenTelemetry and Cloud Monitoring),
// the Realtime Database, Cloud Messaging, Remote Config. Their package
// initialisation ran at the start of every fbadmin command: the binary was
// 57 MB instead of about 35 MB, and every command took about 20 ms longer
// to start (70 ms instead of 50 on a 2-core VM). newSDKClient builds the
// same Auth client without that package.
//
// The Auth client's only constructor, fbauth.NewClient, takes a
// configuration whose type is in the SDK's internal package, so it cannot be
// named here; it is filled through reflection, field by field, exactly as
// App.Auth fills it. A field that an SDK upgrade renamed or retyped is an
// error, not a panic, and TestNewSDKClient catches it.

// sdkScopes are the OAuth2 scopes firebase.NewApp asks for (the SDK's
// internal.FirebaseScopes).
var sdkScopes = []string{
	"https://www.googleapis.com/auth/cloud-platform",
	"https://www.googleapis.com/auth/datastore",
	"https://www.googleapis.com/auth/devstorage.full_control",
	"https://www.googleapis.com/auth/firebase",
	"https://www.googleapis.com/auth/identitytoolkit",
	"https://www.googleapis.com/auth/userinfo.email",
}

const sdkModule = "firebase.google.com/go/v4"

// newSDKClient returns the Admin SDK's project-level Auth client, as
// firebase.NewApp(ctx, &firebase.Config{ProjectID: projectID}, opts...)
// followed by App.Auth(ctx) would.
func newSDKClient(ctx context.Context, projectID string, opts []option.ClientOption) (*fbauth.Client, error) {
	o := append([]option.ClientOption{option.WithScopes(sdkScopes...)}, opts...)
	if projectID == "" {
		projectID = defaultProjectID(ctx, o)
	}
	newClient := reflect.ValueOf(fbauth.NewClient)
	ft := newClient.Type()
	if ft.NumIn() != 2 || ft.NumOut() != 2 || ft.In(1).Kind() != reflect.Pointer || ft.In(1).Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s: unexpected signature of auth.NewClient: %s", sdkModule, ft)
	}
	conf := reflect.New(ft.In(1).Elem())
	for name, v := range map[string]any{
		"Opts":             o,
		"ProjectID":        projectID,
		"ServiceAccountID": "",
		"Version":          sdkVersion(),
	} {
		f := conf.Elem().FieldByName(name)
		if !f.IsValid() || !f.CanSet() || !reflect.TypeOf(v).AssignableTo(f.Type()) {
			return nil, fmt.Errorf("%s: the auth client configuration %s has no field %s of type %T", sdkModule, ft.In(1).Elem(), name, v)
		}
		f.Set(reflect.ValueOf(v))
	}
	out := newClient.Call([]reflect.Value{reflect.ValueOf(ctx), conf})
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, err
	}
	client, _ := out[0].Interface().(*fbauth.Client)
	if client == nil {
		return nil, fmt.Errorf("%s: auth.NewClient returned no client", sdkModule)
	}
	return client, nil
}

// defaultProjectID finds the project as firebase.NewApp does when none is
// configured: the credentials' project, else GOOGLE_CLOUD_PROJECT, else
// GCLOUD_PROJECT.
func defaultProjectID(ctx context.Context, opts []option.ClientOption) string {
	if creds, _ := transport.Creds(ctx, opts...); creds != nil && creds.ProjectID != "" {
		return creds.ProjectID
	}
	if p := os.Getenv("GOOGLE_CLOUD_PROJECT"); p != "" {
		return p
	}
	return os.Getenv("GCLOUD_PROJECT")
}

// sdkVersion is the Admin SDK's version as firebase.Version spells it
// ("4.19.0"); the SDK sends it in its X-Client-Version header.
func sdkVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == sdkModule {
				if d.Replace != nil && d.Replace.Version != "" {
					d = d.Replace
				}
				return strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return "4"
}
