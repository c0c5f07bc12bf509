// Package static holds Lasso's browser assets, embedded in the binary.
package static

import "embed"

// FS holds the stylesheets under css/ and the ES modules under js/, to be
// served under /static/ (e.g. /static/js/annotate.js), and favicon.ico, served
// at /favicon.ico. The modules' node tests (*.test.mjs) live beside them and are
// embedded too, but handlers never serve them (nor list folders); sample images
// are not embedded here.
//
//go:embed css js favicon.ico
var FS embed.FS
