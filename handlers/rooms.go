package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/store"
)

// roomService is what handlers need of rooms.Service.
type roomService interface {
	Create(ctx context.Context, creator rooms.User, nr rooms.NewRoom) (*store.Room, error)
	RoomsOf(ctx context.Context, u rooms.User) ([]rooms.Summary, error)
	Access(ctx context.Context, roomID string, u rooms.User) (*store.Room, *store.Member, error)
	Join(ctx context.Context, roomID string, u rooms.User) error
	Remove(ctx context.Context, roomID string, owner rooms.User, userID string) error
	CloseRoom(ctx context.Context, roomID string, owner rooms.User) error
	Prompt(ctx context.Context, api jobs.SegmentAPI, roomID string, u rooms.User, p rooms.Prompt) (*store.Object, bool, error)
	Edit(ctx context.Context, roomID string, u rooms.User, fileID int64, objectID string, ch rooms.Change) (*store.Object, error)
	MarkDone(ctx context.Context, roomID string, u rooms.User, fileID int64, done bool) error
	Next(ctx context.Context, roomID string, u rooms.User, current int64) (int64, bool, error)
	State(ctx context.Context, roomID string, u rooms.User, fileID *int64) (*rooms.Snapshot, error)
	Objects(ctx context.Context, roomID string, u rooms.User) ([]store.Object, error)
	Connect(roomID string, u rooms.User, fileID *int64) (leave func())
	Review(ctx context.Context, roomID string, u rooms.User, fileID int64, objectID string, version int, review string) (*store.Object, error)
	RetrySave(ctx context.Context, roomID string, u rooms.User, fileID int64, objectID string, version int) (int, error)
	SetRole(ctx context.Context, roomID string, owner rooms.User, userID, role string) error
	Provenance(ctx context.Context, roomID string, u rooms.User, fileID int64, objectID string) (*store.Object, []store.Write, error)
}

func roomUser(c echo.Context) rooms.User {
	u := userOf(c)
	return rooms.User{ID: u.ID, Name: u.Name, SessionID: u.SessionID}
}

// classifyRooms maps the rooms errors people can cause to what they are told.
func classifyRooms(err error) (int, string, bool) {
	var locked *rooms.LockedError
	switch {
	case errors.As(err, &locked):
		return http.StatusConflict, locked.Holder + " is segmenting this. Take over only if you agreed to.", true
	case errors.Is(err, rooms.ErrNotMember):
		return http.StatusForbidden, "You are not a member of this room. Ask its owner for the share link.", true
	case errors.Is(err, rooms.ErrNotOwner):
		return http.StatusForbidden, "Only the room's owner may do that.", true
	case errors.Is(err, rooms.ErrNotReviewer):
		return http.StatusForbidden, "Only the room's reviewers may approve or reject objects. Ask the room's owner to make you a reviewer.", true
	case errors.Is(err, rooms.ErrNotAccepted):
		return http.StatusConflict, "Only accepted objects are reviewed: this one is not accepted (any more).", true
	case errors.Is(err, store.ErrStale):
		return http.StatusConflict, "The object was prompted again since you looked at it: review its new shape.", true
	case errors.Is(err, rooms.ErrNothingToSave):
		return http.StatusConflict, "Nothing to save yet: wait until the object's segment is done, then accept it.", true
	case errors.Is(err, rooms.ErrNoImage):
		return http.StatusNotFound, "That image is not part of this room.", true
	case errors.Is(err, store.ErrForbidden):
		return http.StatusForbidden, "You were removed from this room.", true
	case errors.Is(err, store.ErrClosed):
		return http.StatusConflict, "The room is closed: it is read-only now.", true
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "There is no such room (or object).", true
	}
	return 0, "", false
}

func roomFileID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("fileId"), 10, 64)
	if err != nil || id <= 0 {
		return 0, newProblem(http.StatusBadRequest, "%q is not a file id: it must be a positive whole number.", c.Param("fileId"))
	}
	return id, nil
}

// roomPromptRequest is the body of a room prompt: the standalone prompt plus the label and
// whether to take over another member's soft lock. The object id comes from the path.
type roomPromptRequest struct {
	segmentRequest
	Label    string `json:"label"`
	TakeOver bool   `json:"takeOver"`
}

// roomPrompt stores an object's prompt in the room and starts its job with the user's client.
// A replay of a stored version is answered 200 with the same body and starts nothing.
func (s *server) roomPrompt(c echo.Context) error {
	fileID, err := roomFileID(c)
	if err != nil {
		return err
	}
	var body roomPromptRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	body.ObjectID = c.Param("objectId")
	req, err := body.toCDF(fileID)
	if err != nil {
		return err
	}
	if body.Label, err = checkLabel(body.Label, false); err != nil {
		return err
	}
	client, _, err := s.openImage(c, fileID)
	if err != nil {
		return err
	}
	u := userOf(c)
	_, started, err := s.Rooms.Prompt(c.Request().Context(), s.segmenter(u, client), c.Param("id"), roomUser(c), rooms.Prompt{
		FileID: fileID, ObjectID: body.ObjectID, Version: body.Version, Label: body.Label,
		Request: req, TakeOver: body.TakeOver, SessionID: u.SessionID,
	})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !started {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]any{"objectId": body.ObjectID, "version": body.Version})
}

// roomEdit changes an object's label, accepts it, or deletes it.
func (s *server) roomEdit(c echo.Context) error {
	fileID, err := roomFileID(c)
	if err != nil {
		return err
	}
	var body struct {
		Label    *string `json:"label"`
		Accepted *bool   `json:"accepted"`
		Deleted  bool    `json:"deleted"`
		acceptDetail
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Label != nil {
		l, err := checkLabel(*body.Label, false)
		if err != nil {
			return err
		}
		body.Label = &l
	}
	if !objectIDPattern.MatchString(c.Param("objectId")) {
		return newProblem(http.StatusBadRequest, "objectId must be 1 to 64 letters, digits, '-' or '_'.")
	}
	ch := rooms.Change{Label: body.Label, Accepted: body.Accepted, Deleted: body.Deleted}
	if body.Accepted != nil && *body.Accepted && !body.Deleted {
		if ch.Detail, err = s.detail(c, fileID, body.acceptDetail); err != nil {
			return err
		}
	}
	obj, err := s.Rooms.Edit(c.Request().Context(), c.Param("id"), roomUser(c), fileID, c.Param("objectId"), ch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obj)
}

// roomDone marks an image done or not.
func (s *server) roomDone(c echo.Context) error {
	fileID, err := roomFileID(c)
	if err != nil {
		return err
	}
	var body struct {
		Done *bool `json:"done"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Done == nil {
		return newProblem(http.StatusBadRequest, "Say done: true or done: false.")
	}
	if err := s.Rooms.MarkDone(c.Request().Context(), c.Param("id"), roomUser(c), fileID, *body.Done); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"fileId": fileID, "done": *body.Done})
}

// roomNext hands out the next untouched image nobody else is on.
func (s *server) roomNext(c echo.Context) error {
	var body struct {
		Current *int64 `json:"current"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	var current int64
	if body.Current != nil {
		current = *body.Current
	}
	roomID := c.Param("id")
	next, ok, err := s.Rooms.Next(c.Request().Context(), roomID, roomUser(c), current)
	if err != nil {
		return err
	}
	if !ok {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, map[string]any{"fileId": next, "href": roomImageHref(roomID, next)})
}

func roomImageHref(roomID string, fileID int64) string {
	return "/rooms/" + roomID + "/images/" + strconv.FormatInt(fileID, 10)
}

// roomState is the room's snapshot as JSON.
func (s *server) roomState(c echo.Context) error {
	snap, err := s.Rooms.State(c.Request().Context(), c.Param("id"), roomUser(c), nil)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, snap)
}
