package demo

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/sprint-distill/sprint/eval/shapes"
	"github.com/sprint-distill/sprint/grid"
)

// gridScale enlarges the 32x32 samples in the PNGs (nearest neighbour, so pixels stay exact).
const gridScale = 4

// slug makes a row name a file name: lower case, spaces and "+" as "_", "," and parentheses
// dropped, and any other character but letters, digits, "-" and "." (a "/" of a demo.students
// path) as "_".
func slug(s string) string {
	s = strings.NewReplacer(" ", "_", ",", "", "+", "_", "(", "", ")", "").Replace(strings.ToLower(s))
	s = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
	return strings.Trim(s, "_.")
}

// saveGrid enlarges a row's images in place (once, for its grid and the overview) and writes
// them side by side to grids/<slug of name>.png under dir; it returns that path relative to dir.
func saveGrid(dir, name string, imgs []image.Image) (string, error) {
	for i, im := range imgs {
		imgs[i] = grid.Upscale(im, gridScale)
	}
	rel := filepath.Join("grids", slug(name)+".png")
	return rel, grid.WritePNG(filepath.Join(dir, rel), grid.Grid(imgs, len(imgs)))
}

// writeGrids saves one PNG per row and an overview with every row labelled.
func writeGrids(dc shapes.DemoConfig, rep *Report) error {
	labels, rows := make([]string, len(rep.Rows)), make([][]image.Image, len(rep.Rows))
	for i := range rep.Rows {
		r := &rep.Rows[i]
		var err error
		if r.Grid, err = saveGrid(dc.Dir, r.Name, r.images); err != nil {
			return err
		}
		labels[i] = fmt.Sprintf("%s\nexact %.0f%%  FD %.2f", r.Name, 100*r.Acc.Exact, r.FD)
		rows[i] = r.images
	}
	rep.Overview = "overview.png"
	return grid.WritePNG(filepath.Join(dc.Dir, rep.Overview), labelled(labels, rows))
}

// writeControlGrids writes one PNG per row (and one of the control maps) under grids/ and the
// labelled side-by-side overview.
func writeControlGrids(dc shapes.DemoConfig, rep *ControlReport) error {
	controls := slices.Clone(rep.Controls)
	if _, err := saveGrid(dc.Dir, "control maps", controls); err != nil {
		return err
	}
	labels, rows := []string{"control map"}, [][]image.Image{controls}
	show := map[*ControlRow]bool{
		rep.Find(KindTeacherControl, maxSteps(rep, KindTeacherControl)): true,
		rep.Find(KindStudentControl, 1):                                 true,
		rep.Find(KindStudent, 1):                                        true,
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		var err error
		if r.Grid, err = saveGrid(dc.Dir, r.Name, r.images); err != nil {
			return err
		}
		if show[r] {
			labels = append(labels, fmt.Sprintf("%s\nplaced %.0f%%", r.Name, 100*r.Placement.Placed))
			rows = append(rows, r.images)
		}
	}
	rep.Overview = sideBySide
	return grid.WritePNG(filepath.Join(dc.Dir, rep.Overview), labelled(labels, rows))
}

// labelled draws rows of images one under another with a label on the left, one line of it
// per line of the label.
func labelled(labels []string, rows [][]image.Image) image.Image {
	const labelW, pad = 250, 4
	if len(rows) == 0 || len(rows[0]) == 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	cell := rows[0][0].Bounds().Dx()
	cols := len(rows[0])
	img := image.NewRGBA(image.Rect(0, 0, labelW+cols*(cell+pad), len(rows)*(cell+pad)))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{40, 40, 40, 255}), image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.White), Face: basicfont.Face7x13}
	for ri, row := range rows {
		y := ri * (cell + pad)
		for li, line := range strings.Split(labels[ri], "\n") {
			d.Dot = fixed.P(6, y+cell/2+16*li)
			d.DrawString(line)
		}
		for ci, im := range row {
			x := labelW + ci*(cell+pad)
			draw.Draw(img, image.Rect(x, y, x+cell, y+cell), im, im.Bounds().Min, draw.Src)
		}
	}
	return img
}
