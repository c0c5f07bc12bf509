package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lassoteam/lasso/store"
)

// TestObjectJSON pins the wire form of an object: handlers send it over the WebSocket as is,
// so its field names are the front end's, and the login session never leaves the server.
func TestObjectJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := store.Object{RoomID: "r", FileID: 1, ObjectID: "o", AuthorID: "u", AuthorName: "Ana", SessionID: "SECRET-SESSION",
		Label: "cat", Prompt: json.RawMessage(`{"points":[]}`), Version: 2, JobID: 3, Status: store.StatusDone,
		Segments: json.RawMessage(`[]`), BoundingBox: json.RawMessage(`{}`), Accepted: true, CreatedAt: at, UpdatedAt: at}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SECRET") {
		t.Errorf("the JSON carries the login session: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := "accepted authorId authorName backend boundingBox createdAt deleted error fileId jobId label objectId prompt review reviewerId reviewerName roomId segments status updatedAt version"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("JSON keys = %s\nwant        %s", got, want)
	}
	if m["deleted"] != false {
		t.Errorf("deleted = %v, want false", m["deleted"])
	}

	o.DeletedAt, o.Segments = &at, nil
	b, _ = json.Marshal(&o) // through a pointer too, as handlers often hold one
	if !strings.Contains(string(b), `"deleted":true`) || !strings.Contains(string(b), `"deletedAt":"2026-01-02T03:04:05Z"`) ||
		!strings.Contains(string(b), `"segments":null`) {
		t.Errorf("deleted object JSON = %s", b)
	}
}

func TestNewRoomID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewRoomID()
		if len(id) != 12 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" || seen[id] {
			t.Fatalf("NewRoomID() = %q (repeat: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
