package rooms

import (
	"encoding/json"
	"fmt"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/store"
)

// annotationsFor builds one annotation per part of the object's best segment.
func annotationsFor(o *store.Object, user string) ([]cdf.AnnotationCreate, error) {
	var segments []cdf.Segment
	if err := json.Unmarshal(o.Segments, &segments); err != nil || len(segments) == 0 || len(segments[0].Polygons) == 0 {
		return nil, ErrNothingToSave
	}
	label := o.Label
	if label == "" {
		label = "object"
	}
	best := segments[0]
	var items []cdf.AnnotationCreate
	for _, p := range best.Polygons {
		d := cdf.PolygonDetection(label, min(max(best.Score, 0), 1), p.Vertices)
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("rooms: annotation of %s: %w", o.ObjectID, err)
		}
		item, err := cdf.NewObjectDetection(o.FileID, cdf.AnnotationSuggested, AppName, AppVersion, &user, d)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, nil
}
