// Package samples embeds the sample photographs that local mode serves when no image folder is
// given. Sources and licences are listed in NOTICE.md at the repository root.
package samples

import "embed"

// FS holds the sample images, in folders by theme.
//
//go:embed animals fruit kitchen space
var FS embed.FS
