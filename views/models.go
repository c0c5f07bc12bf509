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
	// Dirs are the directory choices offered by the filter form: those of the whole
	// project's images, or of its first files when DirsTruncated.
	Dirs          []string
	DirsTruncated bool
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
	// BackHref returns to the image browser (in a room: to the room page).
	BackHref string

	// The fields below are set in room mode (/rooms/{id}/images/{fileId}) and left
	// zero when the image is annotated alone (/images/{id}).

	// RoomID is the room's id; non-empty switches the page to room mode: the page
	// joins /ws?room=room:{RoomID}&image={FileID} and posts to /api/rooms/{RoomID}/….
	RoomID string
	// RoomName is the room's name, shown in the toolbar.
	RoomName string
	// UserID is the signed-in user's id: it tells the user's own objects from
	// other members' and the user's own avatar from the others'.
	UserID string
	// Labels are the room's labels in key order (keys 1–9); empty lets the annotator
	// type free labels as on a single image.
	Labels []LabelView
	// Members are the room's active members with their presence; those whose
	// FileID is this image are shown in the toolbar ("who is here").
	Members []MemberView
	// ImageDone is true when this image is marked done in the room.
	ImageDone bool
	// DoneHref is where "Next image" goes when no untouched image is left,
	// usually the room page.
	DoneHref string
	// Closed is true when the room is closed: the page is read-only.
	Closed bool
}

// LabelView is one label of a room's label set.
type LabelView struct {
	// Name is the label, e.g. "car".
	Name string `json:"name"`
	// Color is the label's colour, "#rrggbb".
	Color string `json:"color"`
	// Key is the digit key (1–9) that picks the label.
	Key int `json:"key"`
}

// MemberView is one member of a room, with their presence.
type MemberView struct {
	// UserID is the member's user id.
	UserID string `json:"userId"`
	// Name is the member's display name.
	Name string `json:"name"`
	// Color is the member's stable colour, "#rrggbb" (rooms.Color).
	Color string `json:"color"`
	// Role is "owner" or "member".
	Role string `json:"role"`
	// Present is true while the member has the room or one of its images open.
	Present bool `json:"present"`
	// FileID is the image the member has open, 0 when none (or not present).
	FileID int64 `json:"fileId,omitempty"`
}

// RoomsPage lists the signed-in user's rooms and offers the "New room" form.
type RoomsPage struct {
	Layout
	// Rooms are the user's rooms, newest first.
	Rooms []RoomCard
	// Form is echoed back into the "New room" form after a rejected submission;
	// the zero value is an empty form.
	Form NewRoomForm
	// Error says why the last "New room" submission was rejected, or is empty.
	Error string
}

// RoomCard is one row of the rooms list.
type RoomCard struct {
	// ID is the room id.
	ID string
	// Name is the room's name.
	Name string
	// Href opens the room, /rooms/{id}.
	Href string
	// Images is the number of images in the room.
	Images int
	// Done and InProgress count the room's images by status; the rest are untouched.
	Done, InProgress int
	// Created is the creation time for display, e.g. "3 Mar 2026 14:05".
	Created string
	// CreatedISO is the creation time in RFC 3339, for <time datetime>.
	CreatedISO string
	// Owner is the creator's display name.
	Owner string
	// Closed is true when the room is closed (read-only).
	Closed bool
}

// NewRoomForm holds the values of the "New room" form (POST /rooms). The form's
// field names are given per field.
type NewRoomForm struct {
	// Name is the room's name (field "name").
	Name string
	// Source is "filter" (CDF files filter) or "ids" (a list of file ids) (field "source");
	// empty means "filter".
	Source string
	// DirectoryPrefix filters files by directory prefix (field "directory_prefix").
	DirectoryPrefix string
	// FileName filters files by name (field "file_name").
	FileName string
	// ExternalIDPrefix filters files by external-id prefix (field "external_id_prefix").
	ExternalIDPrefix string
	// MimeType filters files by MIME type, "" for any image (field "mime_type").
	MimeType string
	// FileIDs is a list of file ids, one per line (field "file_ids").
	FileIDs string
	// Labels are label lines "name #rrggbb", keys 1–9 by order (field "labels").
	Labels string
}

// RoomPage is one room: the image grid, members, progress and the share link.
type RoomPage struct {
	Layout
	// RoomID is the room's id; the page follows /ws?room=room:{RoomID}.
	RoomID string
	// Name is the room's name.
	Name string
	// UserID is the signed-in user's id.
	UserID string
	// IsOwner shows the owner's controls: remove members, close the room.
	IsOwner bool
	// Closed is true when the room is closed (read-only).
	Closed bool
	// ShareURL is the absolute URL of /rooms/{id}/join; empty makes the page
	// build it from its own origin.
	ShareURL string
	// Images are the room's images in display order.
	Images []RoomImageCard
	// Members are the room's active members with their presence.
	Members []MemberView
	// Labels are the room's labels in key order.
	Labels []LabelView
	// Progress summarises the work done so far.
	Progress ProgressView
}

// JoinRoomPage asks a signed-in user whether to join a room they were sent the share link
// of. Joining is a POST (a plain form with the CSRF token), so following a link, or a
// browser prefetching it, joins nobody.
type JoinRoomPage struct {
	Layout
	// RoomID is the room's id; the form posts to /rooms/{RoomID}/join.
	RoomID string
	// Name is the room's name.
	Name string
	// Owner is the display name of the room's owner.
	Owner string
	// Images is the number of images in the room.
	Images int
	// Closed is true when the room is closed: it can still be joined, read-only.
	Closed bool
}

// RoomImageCard is one image in a room's grid.
type RoomImageCard struct {
	// FileID is the CDF file id.
	FileID int64
	// Name is the file name.
	Name string
	// IconURL is the thumbnail URL (/files/{id}/icon); empty shows a placeholder.
	IconURL string
	// Href opens the image in the room, /rooms/{id}/images/{fileId}.
	Href string
	// Status is "done", "in_progress" or "untouched".
	Status string
	// DoneBy is the display name of the member who marked it done, or empty.
	DoneBy string
	// Objects is the number of objects on the image.
	Objects int
}

// ProgressView summarises a room's progress. Its JSON form is the "progress"
// object of the room's WebSocket messages and of GET /api/rooms/{id}/state,
// which room.js renders live.
type ProgressView struct {
	// Done, InProgress and Untouched count the images by status; Total is their sum.
	Done       int `json:"done"`
	InProgress int `json:"inProgress"`
	Untouched  int `json:"untouched"`
	Total      int `json:"total"`
	// Awaiting, Approved and Rejected count the objects by review (Awaiting: accepted, not
	// decided yet).
	Awaiting int `json:"awaiting"`
	Approved int `json:"approved"`
	Rejected int `json:"rejected"`
	// Labels count the objects per label, in the room's label order.
	Labels []LabelCount `json:"labels"`
	// Members count the objects and done images per member.
	Members []MemberCount `json:"members"`
}

// LabelCount is the number of objects with one label.
type LabelCount struct {
	// Name is the label; empty counts the unlabelled objects.
	Name string `json:"name"`
	// Color is the label's colour, "#rrggbb", or empty.
	Color string `json:"color"`
	// Objects is the number of objects with this label.
	Objects int `json:"objects"`
}

// MemberCount is one member's share of the work.
type MemberCount struct {
	// UserID is the member's user id.
	UserID string `json:"userId"`
	// Name is the member's display name.
	Name string `json:"name"`
	// Color is the member's colour, "#rrggbb" (rooms.Color).
	Color string `json:"color"`
	// Objects is the number of objects the member made.
	Objects int `json:"objects"`
	// Done is the number of images the member marked done.
	Done int `json:"done"`
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
	// Reference is the request's id, shown so that a support question finds its log line.
	Reference string
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
