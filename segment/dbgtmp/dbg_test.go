package dbgtmp

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lassoteam/lasso/internal/evalproto"
	"github.com/lassoteam/lasso/segment"
)

func TestDbg(t *testing.T) {
	dir := "/work/shared/eval"
	set, _ := evalproto.LoadSet(dir)
	e := segment.New(segment.Options{Budget: 10e9})
	for _, im := range set.Images {
		if im.Name != os.Getenv("IM") {
			continue
		}
		gt, _ := evalproto.ReadMask(filepath.Join(dir, im.Mask))
		path := filepath.Join(dir, im.Image)
		src := segment.Source{Key: path, Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) }}
		seg := func(ctx context.Context, p segment.Prompt) ([]segment.Segment, error) { return e.Segment(ctx, src, p) }
		robot := evalproto.NewRobot(gt)
		var pred []bool
		for n := 1; n <= 12; n++ {
			c, ok := robot.Next(pred)
			if !ok {
				break
			}
			q, m, segs := evalproto.Ask(context.Background(), seg, segment.Prompt{Points: robot.Points()}, gt)
			fp, fn := 0, 0
			for i := range gt.Pix {
				if m.Pix[i] && !gt.Pix[i] {
					fp++
				}
				if !m.Pix[i] && gt.Pix[i] {
					fn++
				}
			}
			fmt.Printf("%2d click r%d c%d lab%d  iou %.3f fp %d fn %d nseg %d  gt %d\n", n, c.Row, c.Col, c.Label, q.IoU, fp, fn, len(segs), gt.Count())
			pred = m.Pix
		}
	}
}
