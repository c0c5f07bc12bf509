package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
	"github.com/lassoteam/lasso/views"
)

// roomsPage lists the user's rooms and offers the "New room" form.
func (s *server) roomsPage(c echo.Context) error {
	return s.renderRooms(c, http.StatusOK, views.NewRoomForm{}, "")
}

func (s *server) renderRooms(c echo.Context, status int, form views.NewRoomForm, problem string) error {
	list, err := s.Rooms.RoomsOf(c.Request().Context(), roomUser(c))
	if err != nil {
		return err
	}
	page := views.RoomsPage{Layout: s.pageLayout(c, "Rooms"), Form: form, Error: problem}
	for _, r := range list {
		card := views.RoomCard{ID: r.Room.ID, Name: r.Room.Name, Href: "/rooms/" + r.Room.ID, Images: len(r.Room.Images),
			Done: r.Progress.Done, InProgress: r.Progress.InProgress, Owner: r.Room.CreatorName, Closed: r.Room.Closed(),
			Created: r.Room.CreatedAt.Format("2 Jan 2006 15:04"), CreatedISO: r.Room.CreatedAt.Format("2006-01-02T15:04:05Z07:00")}
		page.Rooms = append(page.Rooms, card)
	}
	return s.render(c, status, views.Rooms(page))
}

var labelLine = regexp.MustCompile(`^(.+?)\s+(#[0-9a-fA-F]{6})$`)

// createRoom makes a room from the form: a name, the images (a CDF files filter or a list of
// file ids, resolved now as the user) and the label set.
func (s *server) createRoom(c echo.Context) error {
	form := views.NewRoomForm{
		Name: strings.TrimSpace(c.FormValue("name")), Source: c.FormValue("source"),
		DirectoryPrefix: strings.TrimSpace(c.FormValue("directory_prefix")), FileName: strings.TrimSpace(c.FormValue("file_name")),
		ExternalIDPrefix: strings.TrimSpace(c.FormValue("external_id_prefix")), MimeType: strings.TrimSpace(c.FormValue("mime_type")),
		FileIDs: c.FormValue("file_ids"), Labels: c.FormValue("labels"),
	}
	reject := func(format string, args ...any) error {
		return s.renderRooms(c, http.StatusBadRequest, form, fmt.Sprintf(format, args...))
	}
	if form.Name == "" || len(form.Name) > store.MaxRoomName {
		return reject("Give the room a name of 1 to %d characters.", store.MaxRoomName)
	}
	switch form.Source {
	case "":
		form.Source = "filter" // the form's default choice
	case "filter", "ids":
	default:
		return reject("Choose where the room's images come from: source=filter (a files filter) or source=ids (a list of file ids).")
	}
	labels, err := parseLabels(form.Labels)
	if err != nil {
		var p *problem
		if errors.As(err, &p) {
			return reject("%s", p.message)
		}
		return reject("%s", sentence(err.Error()))
	}
	client, err := s.client(c)
	if err != nil {
		return err
	}
	files, err := s.roomFiles(c, client, form)
	if err != nil {
		if p, ok := err.(*problem); ok {
			return reject("%s", p.message)
		}
		return err
	}
	images := make([]store.RoomImage, 0, len(files))
	for i, f := range files {
		images = append(images, store.RoomImage{FileID: f.ID, Name: f.Name, Directory: f.Directory, Position: i})
	}
	r, err := s.Rooms.Create(c.Request().Context(), roomUser(c), rooms.NewRoom{Name: form.Name, Images: images, Labels: labels})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+r.ID)
}

// parseLabels reads "name #rrggbb" lines; keys 1–9 follow the order.
func parseLabels(text string) ([]store.Label, error) {
	var labels []store.Label
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := labelLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("label %q: write one label per line as \"name #rrggbb\"", line)
		}
		if len(labels) == store.MaxRoomLabels {
			return nil, fmt.Errorf("at most %d labels (keys 1–9)", store.MaxRoomLabels)
		}
		name, err := checkLabel(m[1], true)
		if err != nil {
			return nil, err
		}
		for _, l := range labels {
			if l.Name == name {
				return nil, fmt.Errorf("label %q is given twice", name)
			}
		}
		labels = append(labels, store.Label{Name: name, Color: strings.ToLower(m[2]), Key: len(labels) + 1})
	}
	return labels, nil
}

// roomFiles resolves the room's images as the creating user: the listed ids, or every image
// file matching the filter (at most store.MaxRoomImages).
func (s *server) roomFiles(c echo.Context, client *cdf.Client, form views.NewRoomForm) ([]cdf.File, error) {
	ctx := c.Request().Context()
	var files []cdf.File
	if form.Source == "ids" {
		var ids []cdf.Identifier
		for _, f := range strings.Fields(form.FileIDs) {
			id, err := strconv.ParseInt(strings.TrimSuffix(f, ","), 10, 64)
			if err != nil || id <= 0 {
				return nil, newProblem(http.StatusBadRequest, "%q is not a file id.", f)
			}
			ids = append(ids, cdf.ID(id))
		}
		if len(ids) == 0 || len(ids) > store.MaxRoomImages {
			return nil, newProblem(http.StatusBadRequest, "List 1 to %d file ids.", store.MaxRoomImages)
		}
		found, err := client.Files.ByIDs(ctx, ids, false)
		if err != nil {
			return nil, err
		}
		files = found
	} else {
		uploaded := true
		filter := cdf.FileFilter{DirectoryPrefix: form.DirectoryPrefix, Name: form.FileName, ExternalIDPrefix: form.ExternalIDPrefix, MimeType: form.MimeType, Uploaded: &uploaded}
		cursor := ""
		for len(files) <= store.MaxRoomImages {
			page, err := client.Files.List(ctx, filter, cdf.ListOptions{Limit: 1000, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			files = append(files, page.Items...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
	}
	images := files[:0]
	for i := range files {
		if files[i].IsImage() {
			images = append(images, files[i])
		}
	}
	switch {
	case len(images) == 0:
		return nil, newProblem(http.StatusBadRequest, "No JPEG or PNG image matches; change the filter.")
	case len(images) > store.MaxRoomImages:
		return nil, newProblem(http.StatusBadRequest, "More than %d images match; narrow the filter.", store.MaxRoomImages)
	}
	return images, nil
}

// roomPage shows one room: images with status and presence, members, progress, share link.
func (s *server) roomPage(c echo.Context) error {
	roomID := c.Param("id")
	u := roomUser(c)
	snap, err := s.Rooms.State(c.Request().Context(), roomID, u, nil)
	if err != nil {
		return err
	}
	r := snap.Room
	page := views.RoomPage{
		Layout: s.pageLayout(c, r.Name), RoomID: r.ID, Name: r.Name, UserID: u.ID,
		IsOwner: r.CreatorID == u.ID, Closed: r.Closed(),
		Members: memberViews(snap), Labels: labelViews(r.Labels), Progress: progressView(snap.Progress),
	}
	for i, im := range r.Images {
		st := snap.Images[i]
		page.Images = append(page.Images, views.RoomImageCard{FileID: im.FileID, Name: im.Name,
			IconURL: fmt.Sprintf("/files/%d/icon", im.FileID), Href: roomImageHref(r.ID, im.FileID),
			Status: st.Status, DoneBy: nameOf(snap.Members, im.DoneBy), Objects: st.Objects})
	}
	return s.render(c, http.StatusOK, views.Room(page))
}

// joinPage is the share link: it asks the signed-in user whether to join, and opens the room
// for a member. It changes nothing, so a link followed from another site, or prefetched, joins
// nobody.
func (s *server) joinPage(c echo.Context) error {
	roomID := c.Param("id")
	r, _, err := s.Rooms.Access(c.Request().Context(), roomID, roomUser(c))
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/rooms/"+roomID)
	}
	if !errors.Is(err, rooms.ErrNotMember) || r == nil {
		return err
	}
	return s.render(c, http.StatusOK, views.JoinRoom(views.JoinRoomPage{
		Layout: s.pageLayout(c, "Join "+r.Name), RoomID: r.ID, Name: r.Name, Owner: r.CreatorName,
		Images: len(r.Images), Closed: r.Closed(),
	}))
}

// joinRoom adds the signed-in user to the room (the join page's button) and opens it.
func (s *server) joinRoom(c echo.Context) error {
	if err := s.Rooms.Join(c.Request().Context(), c.Param("id"), roomUser(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+c.Param("id"))
}

func (s *server) closeRoom(c echo.Context) error {
	if err := s.Rooms.CloseRoom(c.Request().Context(), c.Param("id"), roomUser(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+c.Param("id"))
}

// removeMember takes a member out of the room (the owner's form).
func (s *server) removeMember(c echo.Context) error {
	ctx, roomID, u := c.Request().Context(), c.Param("id"), roomUser(c)
	err := s.Rooms.Remove(ctx, roomID, u, c.Param("userId"))
	if errors.Is(err, rooms.ErrNotOwner) && c.Param("userId") == u.ID && s.owns(c, roomID) {
		// rooms refuses the owner's own removal with ErrNotOwner; what is refused is that.
		return newProblem(http.StatusConflict, "You own this room, so you cannot remove yourself from it; close the room instead when the work is done.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/rooms/"+roomID)
}

// owns reports whether the request's user owns the room (false when that cannot be read).
func (s *server) owns(c echo.Context, roomID string) bool {
	r, _, err := s.Rooms.Access(c.Request().Context(), roomID, roomUser(c))
	return err == nil && r.CreatorID == userOf(c).ID
}

// roomImage is the annotation page in room mode.
func (s *server) roomImage(c echo.Context) error {
	fileID, err := roomFileID(c)
	if err != nil {
		return err
	}
	roomID := c.Param("id")
	u := roomUser(c)
	snap, err := s.Rooms.State(c.Request().Context(), roomID, u, &fileID)
	if err != nil {
		return err
	}
	r := snap.Room
	index := -1
	for i, im := range r.Images {
		if im.FileID == fileID {
			index = i
		}
	}
	if index < 0 {
		return rooms.ErrNoImage
	}
	_, f, err := s.openImage(c, fileID)
	if err != nil {
		return err
	}
	page := s.imagePage(c, f)
	page.Room, page.BackHref, page.DoneHref = rooms.Key(r.ID), "/rooms/"+r.ID, "/rooms/"+r.ID
	page.RoomID, page.RoomName, page.UserID = r.ID, r.Name, u.ID
	page.Labels, page.Members = labelViews(r.Labels), memberViews(snap)
	page.ImageDone, page.Closed = r.Images[index].DoneBy != "", r.Closed()
	if index > 0 {
		page.PrevHref = roomImageHref(r.ID, r.Images[index-1].FileID)
	}
	if index+1 < len(r.Images) {
		page.NextHref = roomImageHref(r.ID, r.Images[index+1].FileID)
	}
	return s.render(c, http.StatusOK, views.Annotate(page))
}

func labelViews(labels []store.Label) []views.LabelView {
	out := make([]views.LabelView, 0, len(labels))
	for _, l := range labels {
		out = append(out, views.LabelView{Name: l.Name, Color: l.Color, Key: l.Key})
	}
	return out
}

func memberViews(snap *rooms.Snapshot) []views.MemberView {
	present := map[string]rooms.Present{}
	for _, p := range snap.Presence {
		present[p.UserID] = p
	}
	var out []views.MemberView
	for _, m := range snap.Members {
		if m.RemovedAt != nil {
			continue
		}
		v := views.MemberView{UserID: m.UserID, Name: m.Name, Color: rooms.Color(m.UserID), Role: m.Role}
		if p, ok := present[m.UserID]; ok {
			v.Present = true
			if p.FileID != nil {
				v.FileID = *p.FileID
			}
		}
		out = append(out, v)
	}
	return out
}

func progressView(p rooms.Progress) views.ProgressView {
	v := views.ProgressView{Done: p.Done, InProgress: p.InProgress, Untouched: p.Untouched, Total: p.Total,
		Awaiting: p.Awaiting, Approved: p.Approved, Rejected: p.Rejected}
	for _, l := range p.Labels {
		v.Labels = append(v.Labels, views.LabelCount{Name: l.Name, Color: l.Color, Objects: l.Objects})
	}
	for _, m := range p.Members {
		v.Members = append(v.Members, views.MemberCount{UserID: m.UserID, Name: m.Name, Color: m.Color, Objects: m.Objects, Done: m.Done})
	}
	return v
}

func nameOf(members []store.Member, userID string) string {
	for _, m := range members {
		if m.UserID == userID {
			return m.Name
		}
	}
	return ""
}
