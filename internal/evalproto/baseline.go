package evalproto

import (
	"encoding/json"
	"fmt"
)

// BaselineRow is one image's row as opencv_grabcut_baseline.py --rows writes it.
type BaselineRow struct {
	Name    string             `json:"name"`
	Tier    string             `json:"tier"`
	Box     map[string]float64 `json:"box"`
	BoxMs   []float64          `json:"box_ms"`
	Clicks  []float64          `json:"clicks"`
	ClickMs []float64          `json:"click_ms"`
}

// ParseBaselineRows reads the baseline's --rows file: per configuration name, one row per image.
func ParseBaselineRows(b []byte) (map[string][]BaselineRow, error) {
	var rows map[string][]BaselineRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("evalproto: baseline rows: %w", err)
	}
	return rows, nil
}

// Result converts a baseline row to an ImageResult, so that both sides are summarised by the
// same code. The baseline has no cold request (it times no decoding) and reports no scores; its
// curve is padded with the last IoU up to clickCap, as the robot stops only when no error is left.
func (r BaselineRow) Result(clickCap int) ImageResult {
	res := ImageResult{Name: r.Name, Tier: r.Tier, Box: map[string]Request{}}
	nan := Num(nan())
	for i, k := range BoxKeys {
		iou, ok := r.Box[k]
		if !ok {
			continue
		}
		q := Request{Kind: "box", Prompt: k, IoU: iou, Score: nan}
		if i < len(r.BoxMs) {
			q.Ms = r.BoxMs[i]
		}
		res.Box[k] = q
	}
	for i, iou := range r.Clicks {
		q := Request{Kind: "click", Prompt: fmt.Sprintf("click%d", i+1), IoU: iou, Score: nan}
		if i < len(r.ClickMs) {
			q.Ms = r.ClickMs[i]
		}
		res.Click = append(res.Click, q)
		res.Curve = append(res.Curve, iou)
	}
	for len(res.Curve) > 0 && len(res.Curve) < clickCap {
		res.Curve = append(res.Curve, res.Curve[len(res.Curve)-1])
	}
	return res
}
