package views

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pageTitle builds the document title.
func pageTitle(title string) string {
	if title == "" {
		return "Lasso"
	}
	return title + " · Lasso"
}

// modeTitle explains the run mode badge.
func modeTitle(mode string) string {
	if mode == "local" {
		return "Local mode: images and segmentation run on this machine; nothing leaves it"
	}
	return "Run mode: " + mode
}

// initials returns up to two initials of a display name, for the avatar.
func initials(name string) string {
	var b strings.Builder
	for _, f := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(f)
		if r == utf8.RuneError || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
		if b.Len() >= 2 && utf8.RuneCountInString(b.String()) == 2 {
			break
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}

// emptyMessage is the browser's message when no file is listed.
func emptyMessage(p BrowserPage) string {
	if p.Empty != "" {
		return p.Empty
	}
	return "No images to show."
}

// cardTitle is the tooltip of a file card: its full name and path.
func cardTitle(f FileCard) string {
	parts := []string{f.Name}
	if f.Directory != "" {
		parts = append(parts, f.Directory)
	}
	if f.Size != "" {
		parts = append(parts, f.Size)
	}
	if f.Bytes != "" {
		parts = append(parts, f.Bytes)
	}
	return strings.Join(parts, " · ")
}

// errorTitle is the error page heading, with a fallback by status.
func errorTitle(p ErrorPage) string {
	if p.Title != "" {
		return p.Title
	}
	switch {
	case p.Status == 401:
		return "Your sign-in expired"
	case p.Status == 403:
		return "You don't have access to this"
	case p.Status == 404:
		return "Not found"
	case p.Status >= 500:
		return "Something went wrong on our side"
	}
	return "Something went wrong"
}

// errorMessage is the error page advice, with a fallback by status.
func errorMessage(p ErrorPage) string {
	if p.Message != "" {
		return p.Message
	}
	switch {
	case p.Status == 401:
		return "Sign in again to continue."
	case p.Status == 404:
		return "The page or image may have been moved or deleted. Go back to the images and pick another one."
	case p.Status >= 500:
		return "Try again in a moment. If it keeps happening, tell your administrator what you were doing."
	}
	return "Go back to the images and try again."
}

// memberPalette are the member colours, the same list as rooms.Color and
// static/js/roomstate.js, so every part of Lasso paints a member alike.
// membersOn lists the present members who have the image open.
func membersOn(members []MemberView, fileID int64) []MemberView {
	var on []MemberView
	for _, m := range members {
		if m.Present && m.FileID == fileID && fileID != 0 {
			on = append(on, m)
		}
	}
	return on
}

// statusText is the badge text of an image status.
func statusText(status string) string {
	switch status {
	case "done":
		return "done"
	case "in_progress":
		return "in progress"
	}
	return "untouched"
}

// statusOrUntouched maps an unknown or empty image status to "untouched".
func statusOrUntouched(status string) string {
	if status == "done" || status == "in_progress" {
		return status
	}
	return "untouched"
}

// percent is part of total in whole percent, 0 when total is 0.
func percent(part, total int) int {
	if total <= 0 {
		return 0
	}
	return part * 100 / total
}

// roomSocket is the WebSocket room the annotation page joins: room:{id} in room mode.
func roomSocket(p AnnotatePage) string {
	if p.RoomID != "" {
		return "room:" + p.RoomID
	}
	return p.Room
}

// presenceText says where a member is: on which image, in the room, or away.
func presenceText(m MemberView, names map[int64]string) string {
	switch {
	case !m.Present:
		return "away"
	case m.FileID == 0:
		return "in the room"
	}
	if n, ok := names[m.FileID]; ok {
		return "on " + n
	}
	return "on an image"
}

// imageNames maps the room's file ids to their names.
func imageNames(images []RoomImageCard) map[int64]string {
	names := make(map[int64]string, len(images))
	for _, im := range images {
		names[im.FileID] = im.Name
	}
	return names
}

// plural is "1 image" or "3 images".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// shareURL is the room's join link: the absolute URL when the handler gave one, else the path
// (room.js makes it absolute from the page's origin).
func shareURL(p RoomPage) string {
	if p.ShareURL != "" {
		return p.ShareURL
	}
	return "/rooms/" + url.PathEscape(p.RoomID) + "/join"
}

// memberURL is the action of the owner's form that acts on a member ("remove", "role").
func memberURL(roomID, userID, action string) string {
	return "/rooms/" + url.PathEscape(roomID) + "/members/" + url.PathEscape(userID) + "/" + action
}

// labelName shows the unlabelled objects' count under a name.
func labelName(name string) string {
	if name == "" {
		return "(no label)"
	}
	return name
}

// roleOf is the user's role among the members ("owner", "reviewer", "member"), "" when the
// user is not one of them.
func roleOf(members []MemberView, userID string) string {
	for _, m := range members {
		if m.UserID == userID {
			return m.Role
		}
	}
	return ""
}

// mayReview is true for the roles that approve and reject objects: the owner and reviewers.
func mayReview(role string) bool {
	return role == "owner" || role == "reviewer"
}

// reviewHref opens the first image of the room that has objects (else the first image) in
// review mode; the page walks on from there to the images with objects awaiting review.
// "" when the room has no images.
func reviewHref(p RoomPage) string {
	if len(p.Images) == 0 {
		return ""
	}
	first := p.Images[0].FileID
	for _, im := range p.Images {
		if im.Objects > 0 {
			first = im.FileID
			break
		}
	}
	return "/rooms/" + url.PathEscape(p.RoomID) + "/images/" + strconv.FormatInt(first, 10) + "?review=1"
}
