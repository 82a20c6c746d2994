package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// Resources: firestore://PATH is a document (an even number of segments)
// or the first page of a collection (odd), firestore:// the top-level
// collections; fbadmin://value-format is the value format's reference.

const scheme = "firestore://"

func (s *Server) addResources() {
	s.sdk.AddResourceTemplate(&sdk.ResourceTemplate{
		URITemplate: scheme + "{+path}", Name: "firestore", Title: "Firestore document or collection", MIMEType: "application/json",
		Description: "firestore://users/alice is a document (path, data in the value format, times); firestore://users the first 100 documents of a collection with a next_page_token for firestore_list_documents.",
	}, s.readResource)
	s.sdk.AddResource(&sdk.Resource{URI: scheme, Name: "collections", Title: "Top-level Firestore collections", MIMEType: "application/json",
		Description: "The database's top-level collections."}, s.readResource)
	s.sdk.AddResource(&sdk.Resource{URI: "fbadmin://value-format", Name: "value-format", Title: "fbadmin's value format", MIMEType: "text/markdown",
		Description: "How values are written in and read from every tool: one JSON form per Firestore type."},
		func(_ context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, MIMEType: "text/markdown", Text: valueFormat}}}, nil
		})
}

func (s *Server) readResource(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	rest, ok := strings.CutPrefix(uri, scheme)
	if !ok {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	start := time.Now()
	c := &call{caller: callerOf(req.Extra), tool: "resources/read"}
	var out any
	var err error
	rest = strings.Trim(rest, "/")
	switch p, perr := docpath.Parse(rest); {
	case rest == "":
		out, err = s.listCollections(ctx, c, &listCollectionsInput{})
	case perr != nil:
		err = errs.New(errs.ErrInvalid, "read", uri, "%v", perr)
	case p.IsDocument():
		var got getOutput
		got, err = s.get(ctx, c, &getInput{Paths: []string{p.String()}})
		if err == nil && len(got.Documents) == 0 {
			err = errs.New(errs.ErrNotFound, "read", p.String(), "no such document")
		} else if err == nil {
			out = got.Documents[0]
		}
	default:
		out, err = s.listDocuments(ctx, c, &listDocumentsInput{Collection: p.String(), PageSize: min(100, s.o.MaxDocs)})
	}
	outcome := "ok"
	if err != nil {
		outcome = kindName(err)
	}
	s.log.Info("call", "tool", c.tool, "outcome", outcome, "ms", time.Since(start).Milliseconds(), "target", rest)
	if errs.KindOf(err) == errs.ErrNotFound {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kindName(err), err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
}

func (s *Server) addPrompts() {
	s.sdk.AddPrompt(&sdk.Prompt{Name: "inspect_collection", Title: "Inspect a collection's shape",
		Description: "Sample a collection and describe its fields: names, types, how often each is present, nested maps and subcollections.",
		Arguments:   []*sdk.PromptArgument{{Name: "collection", Description: "a collection path such as users", Required: true}}},
		func(_ context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			coll := req.Params.Arguments["collection"]
			if coll == "" {
				return nil, fmt.Errorf("the collection argument is required")
			}
			return promptResult("Inspect the shape of "+coll, fmt.Sprintf(`Describe the shape of the Firestore collection %q.
1. Count its documents with firestore_aggregate {"collection": %q}.
2. Read a sample with firestore_query {"collection": %q, "limit": 50} (and, if there are more, a second sample ordered by __name__ descending).
3. For every field path, report its type or types as the value format shows them ($int, $double, $timestamp, $ref, $bytes, $geopoint, $vector, string, boolean, null, array, map) and in how many sampled documents it appears.
4. List the subcollections of two or three documents with firestore_list_collections {"parent": "%s/ID"}.
Report a table of fields, point out fields with mixed types or rare presence, and say how large the sample was.`, coll, coll, coll, coll)), nil
		})
	s.sdk.AddPrompt(&sdk.Prompt{Name: "find_documents", Title: "Find documents by a condition",
		Description: "Turn a condition in words into a firestore_query with exact typed values, count the matches first, then fetch them.",
		Arguments: []*sdk.PromptArgument{{Name: "collection", Description: "a collection path, or a collection ID to search every collection of that name", Required: true},
			{Name: "condition", Description: "what the documents must satisfy, in words (for example: signed up in 2024 and not verified)", Required: true}}},
		func(_ context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			coll, cond := req.Params.Arguments["collection"], req.Params.Arguments["condition"]
			if coll == "" || cond == "" {
				return nil, fmt.Errorf("the collection and condition arguments are required")
			}
			return promptResult("Find documents in "+coll, fmt.Sprintf(`Find the documents of %q where: %s.
1. If you do not know the field names and types, read two or three documents first (firestore_query with limit 3).
2. Write the condition as firestore_query filters: where (all hold) and or (one holds), with values in the value format of the stored type: {"$timestamp":"2024-01-01T00:00:00Z"} for dates, {"$ref":"projects/.../documents/..."} for references, {"$int":"42"} for integers (a stored integer never equals {"$double":42}).
3. Count first with firestore_aggregate and the same filters; if there are many, fetch a page (limit 20) and say how many there are in all.
4. If Firestore asks for an index, say which composite index the query needs.`, coll, cond)), nil
		})
}

func promptResult(desc, text string) *sdk.GetPromptResult {
	return &sdk.GetPromptResult{Description: desc, Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: text}}}}
}

const valueFormat = `# fbadmin's value format

Every Firestore value has exactly one JSON form. Plain JSON for null, booleans, strings, arrays and maps; typed forms (objects with one key starting with "$") for the rest:

| type | JSON |
|---|---|
| integer (int64) | {"$int":"9223372036854775807"} (a decimal string; a bare JSON integer is accepted in input) |
| double | {"$double":1.5}, {"$double":1}, {"$double":"NaN"}, {"$double":"Infinity"}, {"$double":"-Infinity"}, {"$double":"-0"} |
| bytes | {"$bytes":"AAEC/w=="} (standard base64) |
| timestamp | {"$timestamp":"2024-01-02T03:04:05.123456Z"} (RFC 3339; Firestore keeps microseconds) |
| geopoint | {"$geopoint":{"latitude":48.85,"longitude":2.35}} |
| reference | {"$ref":"projects/P/databases/(default)/documents/users/alice"} |
| vector | {"$vector":[0.12,-0.5,3]} |
| map whose only key starts with "$" | {"$map":{"$price":{"$int":"10"}}} |

A stored integer never equals a double in a filter: {"$int":"42"} and {"$double":42} are different values. An unknown tag such as {"$itn":"1"} is an error naming its JSON path.
`
