package views

import (
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
