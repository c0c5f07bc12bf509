package handlers

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lassoteam/lasso/cdf"
)

// maxLabel is the longest label in characters (runes): CDF's limit for an annotation's label,
// which every label may become.
const maxLabel = cdf.MaxLabelLength

// checkLabel is the one rule for a label a person gives, on every route that takes one (a
// prompt, an accept, a room edit, an annotation in CDF, a room's label set): trimmed of
// surrounding white space, valid UTF-8, no control characters (a line break or a tab would
// break a YOLO classes.txt, and shows as nothing), at most maxLabel characters. It returns the
// trimmed label. An empty label means "no label" where one is optional; where required is set
// it is refused.
func checkLabel(label string, required bool) (string, error) {
	l := strings.TrimSpace(label)
	switch n := utf8.RuneCountInString(l); {
	case n == 0 && required:
		return "", newProblem(http.StatusBadRequest, "Give a label of 1 to %d characters.", maxLabel)
	case !utf8.ValidString(l):
		return "", newProblem(http.StatusBadRequest, "The label is not valid text (UTF-8).")
	case strings.ContainsFunc(l, unicode.IsControl):
		return "", newProblem(http.StatusBadRequest, "The label %q holds a control character (such as a line break or a tab); labels are one line of text.", l)
	case n > maxLabel:
		return "", newProblem(http.StatusBadRequest, "The label is too long: it has %d characters, and a label has 1 to %d characters.", n, maxLabel)
	}
	return l, nil
}
