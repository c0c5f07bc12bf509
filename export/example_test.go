package export_test

import (
	"io"
	"os"

	"github.com/lassoteam/lasso/export"
)

func ExampleWriteCOCO() {
	d := export.Dataset{
		Name:       "demo",
		Images:     []export.Image{{ID: 7, FileName: "a.jpg", Width: 200, Height: 100}},
		Categories: []export.Category{{ID: 1, Name: "valve"}},
		Objects: []export.Object{{ImageID: 7, Category: "valve", Score: 0.9, Polygons: [][]export.Point{
			{{X: 0.25, Y: 0.25}, {X: 0.75, Y: 0.25}, {X: 0.75, Y: 0.75}, {X: 0.25, Y: 0.75}},
		}}},
	}
	if err := export.WriteCOCO(os.Stdout, d, export.Options{}); err != nil {
		panic(err)
	}
	// Output:
	// {"info":{"year":0,"version":"1.0","description":"demo","contributor":"Lasso","url":"","date_created":""},
	// "licenses":[],
	// "categories":[
	// {"id":1,"name":"valve","supercategory":""}],
	// "images":[
	// {"id":7,"file_name":"a.jpg","width":200,"height":100}],
	// "annotations":[
	// {"id":1,"image_id":7,"category_id":1,"segmentation":[[50,25,150,25,150,75,50,75]],"area":5000,"bbox":[50,25,100,50],"iscrowd":0,"score":0.9}]}
}

func ExampleWriteYOLO() {
	d := export.Dataset{
		Images:     []export.Image{{ID: 7, FileName: "a.jpg", Width: 200, Height: 100}},
		Categories: []export.Category{{ID: 1, Name: "valve"}},
		Objects: []export.Object{{ImageID: 7, Score: 0.9, Polygons: [][]export.Point{
			{{X: 0.25, Y: 0.25}, {X: 0.75, Y: 0.25}, {X: 0.75, Y: 0.75}},
			{{X: 0, Y: 0}, {X: 0.1, Y: 0}, {X: 0.1, Y: 0.1}},
			{{X: 0.9, Y: 0.9}, {X: 0.91, Y: 0.9}, {X: 0.91, Y: 0.91}}, // a speck: dropped
		}}},
	}
	// The object is one line: its two parts joined at their nearest corners, (0.25, 0.25)
	// and (0.1, 0.1).
	if err := export.WriteYOLO(stdoutFiles{}, d, export.Options{}); err != nil {
		panic(err)
	}
	// Output:
	// == data.yaml
	// # YOLO segmentation labels exported by Lasso
	// train: images
	// val: images
	// nc: 2
	// names:
	//   0: "valve"
	//   1: "object"
	// == classes.txt
	// valve
	// object
	// == README.txt
	// YOLO segmentation labels exported by Lasso.
	//
	// The images are not in this archive: they stay in CDF. Download each one into an images/
	// folder next to labels/, under the name below (its label file has the same name, with .txt
	// for the extension); data.yaml then finds them (train and val both point at images/).
	//
	// CDF file id	image	label file
	// 7	images/a.jpg	labels/a.txt
	// == labels/a.txt
	// 1 0.25 0.25 0.1 0.1 0 0 0.1 0 0.1 0.1 0.25 0.25 0.75 0.25 0.75 0.75
}

// stdoutFiles prints each file's name before its content.
type stdoutFiles struct{}

func (stdoutFiles) Create(name string) (io.Writer, error) {
	os.Stdout.WriteString("== " + name + "\n")
	return os.Stdout, nil
}
