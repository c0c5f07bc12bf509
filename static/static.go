// Package static holds Lasso's browser assets, embedded in the binary.
package static

import "embed"

// FS holds the stylesheets under css/ and the ES modules under js/, to be
// served under /static/ (e.g. /static/js/annotate.js). Test files
// (*.test.mjs) are included but harmless; sample images are not.
//
//go:embed css js
var FS embed.FS
