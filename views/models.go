// Package views renders Lasso's HTML pages with templ.
//
// Every page takes a screen-shaped view model declared in this file. Handlers
// build the view models; views never reach into CDF, auth, jobs or the store.
// The pages follow a strict content security policy: scripts are external ES
// modules under /static/js, styles come from /static/css/app.css, and no
// element carries inline scripts, event handlers or style attributes.
package views

// Layout is the page shell shared by every screen.
type Layout struct {
	// Title is the page-specific part of the document title, e.g. the file name.
	Title string
	// CSRFToken is written to <meta name="csrf-token">; scripts send it back
	// in the X-CSRF-Token header on every state-changing fetch.
	CSRFToken string
	// User is the signed-in user's display name; empty hides the user chip.
	User string
	// Project is the CDF project shown in the header; empty hides it.
	Project string
	// Mode is the run mode shown as a badge, e.g. "local"; empty hides it.
	Mode string
	// SignedIn shows the sign-out button.
	SignedIn bool
	// Warnings are shown in a banner on every page, e.g. missing CDF capabilities.
	Warnings []string
}

// BrowserPage is the image browser: a filterable, paged grid of image files.
type BrowserPage struct {
	Layout
	// Files are the cards on this page, in display order.
	Files []FileCard
	// Name is the current name filter (echoed into the filter form).
	Name string
	// Dir is the current directory filter; empty means all directories.
	Dir string
	// Dirs are the directory choices offered by the filter form.
	Dirs []string
	// NextHref links to the next page; empty when this is the last page.
	NextHref string
	// FirstHref links back to the first page; empty when this is the first page.
	FirstHref string
	// Empty is the message shown when no file matches, e.g. "No images match “cat”".
	Empty string
}

// FileCard is one image file in the browser grid.
type FileCard struct {
	// ID is the CDF file id.
	ID int64
	// Name is the file name.
	Name string
	// Directory is the file's directory, or empty.
	Directory string
	// Size is the pixel size for display, e.g. "1280×960", or empty when unknown.
	Size string
	// Bytes is the file size for display, e.g. "183 KB", or empty when unknown.
	Bytes string
	// IconURL is the same-origin thumbnail URL; empty shows a placeholder.
	IconURL string
	// Href opens the annotation page for the file.
	Href string
}

// AnnotatePage is the annotation screen for one image.
type AnnotatePage struct {
	Layout
	// FileID is the CDF file id; the page posts prompts to /api/images/{FileID}/segment.
	FileID int64
	// Name is the file name.
	Name string
	// ImageURL is the same-origin URL of the full-size image bytes.
	ImageURL string
	// Width and Height are the image's natural size in pixels, 0 when unknown.
	// The decoded image's size always wins; these only reserve the layout early.
	Width, Height int
	// Room is the WebSocket room the page joins (/ws?room=…).
	Room string
	// PrevHref and NextHref open the previous and next image; empty at the ends.
	PrevHref, NextHref string
	// BackHref returns to the image browser.
	BackHref string
}

// ErrorPage tells the user what went wrong and what to do next.
type ErrorPage struct {
	Layout
	// Status is the HTTP status code, e.g. 404.
	Status int
	// Title says what happened, e.g. "Image not found".
	Title string
	// Message says what to do, e.g. "It may have been deleted. Go back to the images and pick another one."
	Message string
}

// SignInPage is the sign-in screen.
type SignInPage struct {
	Layout
	// ProviderURL starts the identity provider's sign-in (CDF mode); empty shows the local
	// display-name form instead.
	ProviderURL string
	// ProviderName names the identity provider on the button, e.g. "Microsoft Entra ID".
	ProviderName string
	// ReturnTo is the same-site path to open after signing in.
	ReturnTo string
	// Name is the display name typed so far (local form).
	Name string
	// Error says why the last attempt failed, or is empty.
	Error string
}
