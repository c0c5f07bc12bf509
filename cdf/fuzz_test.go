package cdf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lassoteam/lasso/cdf"
)

// answering is an http.RoundTripper that answers every request with one status and body, so
// that fuzzed answers go through the client's real read, retry and decode path without a
// network.
type answering struct {
	status int
	body   []byte
}

func (a answering) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: a.status,
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req-1"}},
		Body:       io.NopCloser(bytes.NewReader(a.body)),
		Request:    r,
	}, nil
}

// fuzzClient is a client whose every call gets status and body, tried once.
func fuzzClient(status int, body []byte) *cdf.Client {
	return cdf.New("https://cdf.invalid", "proj", &http.Client{Transport: answering{status, body}},
		cdf.WithRetryPolicy(cdf.RetryPolicy{MaxAttempts: 1}),
		cdf.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
}

// checkDecoded asserts what every 2xx decode must satisfy: the client fails exactly when
// encoding/json refuses the body for the wire type, a failure is a decode error (not an
// *APIError), and a success re-encodes to a fixed point: encoding the value, decoding that and
// encoding again gives the same bytes.
func checkDecoded[T any](t *testing.T, body []byte, got *T, err error) {
	t.Helper()
	var want T
	wantErr := json.Unmarshal(body, &want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("client error %v, encoding/json error %v", err, wantErr)
	}
	if err != nil {
		var apiErr *cdf.APIError
		if errors.As(err, &apiErr) {
			t.Fatalf("a 200 with a bad body gave an API error: %v", err)
		}
		if !strings.Contains(err.Error(), "decode response") {
			t.Fatalf("decode error does not say so: %v", err)
		}
		return
	}
	if got == nil {
		t.Fatal("no error and no value")
	}
	once, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	var again T
	if err := json.Unmarshal(once, &again); err != nil {
		t.Fatalf("own encoding does not decode: %v\n%s", err, once)
	}
	twice, err := json.Marshal(&again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) {
		t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
	}
}

// FuzzFileAnswer decodes GET /files/{id} answers.
func FuzzFileAnswer(f *testing.F) {
	f.Add([]byte(`{"id":1,"name":"a.jpg","mimeType":"image/jpeg","uploaded":true,"createdTime":1,"lastUpdatedTime":2}`))
	f.Add([]byte(`{"id":-1,"name":"\u0000.PNG","mimeType":"image/png","metadata":{"a":"b"},"instanceId":{"space":"s","externalId":"x"}}`))
	f.Add([]byte(`{"id":1e400}`))
	f.Add([]byte(`{"id":"1","metadata":{"a":1}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"name":"\xff\xfe"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fuzzClient(200, body).Files.Retrieve(context.Background(), 1)
		checkDecoded(t, body, got, err)
		if got != nil && got.IsImage() && got.MimeType != "image/jpeg" && got.MimeType != "image/png" {
			t.Fatalf("IsImage for MIME type %q", got.MimeType)
		}
	})
}

// FuzzSegmentJobAnswer decodes segment job answers as the job follower reads them.
func FuzzSegmentJobAnswer(f *testing.F) {
	f.Add([]byte(`{"status":"Queued","createdTime":1,"startTime":0,"statusTime":1,"errorMessage":null,"jobId":7,"items":[{"fileId":1}]}`))
	f.Add([]byte(`{"status":"Completed","jobId":7,"items":[{"fileId":1,"segments":[{"score":0.9,"polygons":[{"vertices":[{"x":0,"y":0},{"x":1,"y":0},{"x":1,"y":1}]}]}]}],"prompt":{"points":[{"x":0.5,"y":0.5,"label":1}],"boundingBox":{"xMin":0,"yMin":0,"xMax":1,"yMax":1}}}`))
	f.Add([]byte(`{"status":"Failed","errorMessage":"boom","failedItems":[{"errorMessage":"x","items":[{"fileId":2}]}]}`))
	f.Add([]byte(`{"status":"Completed","items":[{"fileId":1,"segments":[]}]}`))
	f.Add([]byte(`{"status":"Running","items":[{"fileId":1,"segments":[{"score":"NaN"}]}]}`))
	f.Add([]byte(`{"jobId":9223372036854775808}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fuzzClient(200, body).Vision.SegmentJob(context.Background(), 7)
		checkDecoded(t, body, got, err)
		if got == nil {
			return
		}
		if got.Status.Terminal() != (got.Status == cdf.JobCompleted || got.Status == cdf.JobFailed) {
			t.Fatalf("Terminal() of %q", got.Status)
		}
	})
}

// FuzzAnnotationAnswer decodes annotation pages and reads every item's object detection.
func FuzzAnnotationAnswer(f *testing.F) {
	f.Add([]byte(`{"items":[{"id":1,"annotatedResourceType":"file","annotatedResourceId":2,"annotationType":"images.ObjectDetection","creatingApp":"lasso","creatingAppVersion":"1","creatingUser":null,"status":"approved","data":{"label":"cat","polygon":{"vertices":[{"x":0,"y":0},{"x":1,"y":0},{"x":1,"y":1}]}},"createdTime":1,"lastUpdatedTime":1}],"nextCursor":"c"}`))
	f.Add([]byte(`{"items":[{"annotationType":"images.ObjectDetection","data":{"label":"b","boundingBox":{"xMin":0,"xMax":1,"yMin":0,"yMax":1},"attributes":{"a":{"type":"boolean","value":true}}}}]}`))
	f.Add([]byte(`{"items":[{"annotationType":"images.ObjectDetection","data":null}]}`))
	f.Add([]byte(`{"items":[{"annotationType":"images.Classification","data":{"label":"x"}}]}`))
	f.Add([]byte(`{"items":[{"annotationType":"images.ObjectDetection","data":{"label":"","polyline":{"vertices":[]}}}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		filter := cdf.AnnotationFilter{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceIDs: []cdf.Identifier{cdf.ID(2)}}
		got, err := fuzzClient(200, body).Annotations.List(context.Background(), filter, cdf.ListOptions{})
		checkDecoded(t, body, got, err)
		if got == nil {
			return
		}
		for i := range got.Items {
			a := &got.Items[i]
			d, err := a.ObjectDetection()
			if a.AnnotationType != cdf.AnnotationTypeObjectDetection && err == nil {
				t.Fatalf("a %q annotation decoded as an object detection", a.AnnotationType)
			}
			if err == nil && d == nil {
				t.Fatal("object detection: no error and no value")
			}
		}
	})
}

// FuzzAPIErrorBody reads error answers: any body becomes an *APIError with the response's
// status, a message (the envelope's, or a bounded excerpt of the body) and an Error text
// naming the status; identifiers it lists decode without panicking.
func FuzzAPIErrorBody(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":400,"message":"Files not found","missing":[{"id":1},{"externalId":"x"}]}}`))
	f.Add(409, []byte(`{"error":{"code":409,"message":"dup","duplicated":[{"id":"1"},7,null]}}`))
	f.Add(403, []byte(`{"error":"plain text error"}`))
	f.Add(502, []byte(`<html><body>Bad gateway</body></html>`))
	f.Add(404, []byte(``))
	f.Add(422, []byte(`{"error":{"message":{"nested":true},"extra":[1,2]}}`))
	f.Add(400, []byte(`{"error":null}`))
	f.Add(429, []byte(strings.Repeat("x", 2000)))
	f.Add(502, []byte(strings.Repeat("€", 400))) // the excerpt's cut falls inside a character
	f.Add(480, []byte(""))                       // a status net/http has no text for
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = 400 + (status%200+200)%200 // 400..599
		_, err := fuzzClient(status, body).Files.Retrieve(context.Background(), 1)
		var apiErr *cdf.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("status %d: error %v is not an *APIError", status, err)
		}
		if apiErr.Status != status || cdf.StatusCode(err) != status {
			t.Fatalf("status %d, want %d", apiErr.Status, status)
		}
		if apiErr.RequestID != "req-1" {
			t.Fatalf("request id %q", apiErr.RequestID)
		}
		text := err.Error()
		if !strings.Contains(text, fmt.Sprintf("code: %d", status)) {
			t.Fatalf("error text %q does not name the status", text)
		}
		var env struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 || string(env.Error) == "null" {
			// Not CDF's envelope: the message is a bounded excerpt, never empty.
			if apiErr.Message == "" {
				t.Fatal("empty message")
			}
			if n := len(apiErr.Message); n > 512+len("…") {
				t.Fatalf("excerpt of %d bytes", n)
			}
		}
		if utf8.Valid(body) && !utf8.ValidString(apiErr.Message) {
			t.Fatalf("message %q of a UTF-8 body is not UTF-8", apiErr.Message)
		}
		_ = apiErr.MissingIdentifiers()
		_ = apiErr.DuplicatedIdentifiers()
		_ = apiErr.Temporary()
	})
}

// FuzzTokenInspection decodes token inspection answers and asks them for capabilities.
func FuzzTokenInspection(f *testing.F) {
	f.Add([]byte(`{"subject":"u","projects":[{"projectUrlName":"proj","groups":[1]}],"capabilities":[{"filesAcl":{"actions":["READ"],"scope":{"all":{}}},"projectScope":{"projects":["proj"]}}]}`))
	f.Add([]byte(`{"capabilities":[{"filesAcl":{"actions":["READ"]},"projectScope":{"allProjects":{}}}]}`))
	f.Add([]byte(`{"capabilities":[{"filesAcl":{"actions":"READ"},"projectScope":"x"}]}`))
	f.Add([]byte(`{"capabilities":[{"filesAcl":null}]}`))
	f.Add([]byte(`{"capabilities":[null,{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fuzzClient(200, body).Token.Inspect(context.Background())
		checkDecoded(t, body, got, err)
		if got == nil {
			return
		}
		granted := got.HasCapability("filesAcl", "READ", "proj")
		// A grant needs a capability naming the acl.
		named := false
		for _, c := range got.Capabilities {
			if _, ok := c["filesAcl"]; ok {
				named = true
			}
		}
		if granted && !named {
			t.Fatal("granted an acl no capability names")
		}
	})
}
