package rooms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// BenchmarkStateLargeRoom: the snapshot a member's socket gets when they open one image of a
// room of 20 images that holds 3000 segmented objects of 300 vertices (the soak's rooms reach
// 650 objects each in 15 minutes). Its cost should follow the image, not the room.
func BenchmarkStateLargeRoom(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "lasso.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := hub.New(hub.Options{})
	defer h.Close()
	svc := rooms.New(rooms.Config{Store: st.Rooms(), Publisher: h})
	var images []store.RoomImage
	for i := range 20 {
		images = append(images, store.RoomImage{FileID: int64(1000 + i), Name: fmt.Sprintf("%d.jpg", i)})
	}
	r, err := svc.Create(ctx, ana, rooms.NewRoom{Name: "Big", Images: images})
	if err != nil {
		b.Fatal(err)
	}
	vs := make([]cdf.Vertex, 300)
	for i := range vs {
		vs[i] = cdf.Vertex{X: float64(i) / 300, Y: float64(i%17) / 17}
	}
	segments, _ := json.Marshal([]cdf.Segment{{Score: 0.8, Polygons: []cdf.Polygon{{Vertices: vs}}}})
	for i := range 3000 {
		file, id := int64(1000+i%20), fmt.Sprintf("o%d", i)
		if _, err := st.Rooms().PutPrompt(ctx, &store.Object{RoomID: r.ID, FileID: file, ObjectID: id, AuthorID: ana.ID, AuthorName: ana.Name,
			Label: "crane", Prompt: json.RawMessage(`{"points":[]}`), Version: 1, UpdatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if err := st.Rooms().SetJob(ctx, r.ID, file, id, 1, int64(i+1), "", "done", "", segments, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	file := int64(1007)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		snap, err := svc.State(ctx, r.ID, ana, &file)
		if err != nil || len(snap.Objects) != 150 || snap.Progress.InProgress != 20 {
			b.Fatalf("state: %d objects, progress %+v, %v", len(snap.Objects), snap.Progress, err)
		}
	}
}
