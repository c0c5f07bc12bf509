package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/export"
	"github.com/lassoteam/lasso/views"
)

// problem is an error with an HTTP status and a message a person understands. Handlers return
// problems for bad input; everything else is mapped in handleError.
type problem struct {
	status  int
	message string
}

func (p *problem) Error() string { return fmt.Sprintf("%d: %s", p.status, p.message) }

func newProblem(status int, format string, args ...any) *problem {
	return &problem{status: status, message: fmt.Sprintf(format, args...)}
}

var errSignInRequired = newProblem(http.StatusUnauthorized, "Sign in to continue; your prompts are kept.")

// errorBody is the JSON shape of every error answer: {"error":{"message":"…","requestId":"…"}}.
// The request id is also in the X-Request-Id header and in the request's log line, so a
// support question that quotes it finds what happened.
type errorBody struct {
	Error struct {
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

// classify maps any error to a status and a message for the person who caused it. It is the one
// place where errors become HTTP.
func classify(err error) (status int, message string) {
	var p *problem
	var he *echo.HTTPError
	var ae *cdf.APIError
	var ne net.Error
	if status, msg, ok := classifyRooms(err); ok {
		return status, msg
	}
	switch {
	case errors.As(err, &p):
		return p.status, p.message
	case errors.Is(err, auth.ErrSessionEnded), errors.Is(err, auth.ErrNoTokens):
		return http.StatusUnauthorized, "Your sign-in has expired. Sign in again; your prompts are kept."
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, "There is no such page."
		case http.StatusRequestEntityTooLarge:
			return he.Code, fmt.Sprintf("The request is too large (at most %d KB).", maxBodyBytes/1024)
		case http.StatusMethodNotAllowed:
			return he.Code, "That method is not allowed here."
		}
		if msg, ok := he.Message.(string); ok {
			return he.Code, sentence(msg)
		}
		return he.Code, http.StatusText(he.Code)
	case errors.Is(err, export.ErrInvalid):
		// export says which element is at fault; the room's data is what has to change.
		reason := strings.TrimPrefix(err.Error(), export.ErrInvalid.Error()+": ")
		return http.StatusUnprocessableEntity, "The room cannot be exported as it is: " + sentence(reason) +
			" Change that in the room (for example relabel the object), then export again."
	case errors.As(err, &ae):
		return classifyCDF(ae)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, "CDF did not answer in time. Try again in a moment."
	case errors.Is(err, context.Canceled):
		return 499, "The request was cancelled."
	case errors.As(err, &ne):
		return http.StatusBadGateway, "CDF cannot be reached right now. Try again in a moment."
	}
	return http.StatusInternalServerError, "Something went wrong on our side. Try again; if it keeps happening, tell your administrator."
}

func classifyCDF(ae *cdf.APIError) (int, string) {
	if status, msg, ok := classifyAnnotationsCDF(ae); ok {
		return status, msg
	}
	switch {
	case ae.Status == http.StatusUnauthorized:
		return http.StatusUnauthorized, "Your CDF sign-in has expired. Sign in again; your prompts are kept."
	case ae.Status == http.StatusForbidden:
		return http.StatusForbidden, "You have no access to this in the CDF project. Ask your administrator for filesAcl:READ."
	case ae.Status == http.StatusNotFound || len(ae.Missing) > 0:
		return http.StatusNotFound, "That image does not exist in the CDF project (or was deleted)."
	case ae.Status == http.StatusTooManyRequests:
		return http.StatusServiceUnavailable, "CDF is busy right now (throttled). Try again in a moment."
	case ae.Status >= 500:
		return http.StatusBadGateway, fmt.Sprintf("CDF is not available right now (HTTP %d). Try again in a moment.", ae.Status)
	}
	return http.StatusBadGateway, "CDF refused the request: " + sentence(ae.Message)
}

// classifyAnnotationsCDF words CDF's refusals of the Annotations API, which differ from the
// files': another capability is missing, and what no longer exists is the annotation.
func classifyAnnotationsCDF(ae *cdf.APIError) (int, string, bool) {
	i := strings.Index(ae.Path, "/annotations")
	if i < 0 {
		return 0, "", false
	}
	rest := ae.Path[i+len("/annotations"):]
	write := rest == "" || rest == "/update" || rest == "/delete" || rest == "/suggest"
	switch {
	case ae.Status == http.StatusForbidden && write:
		return http.StatusForbidden, "You may not change annotations in this CDF project. Ask your administrator for annotationsAcl:WRITE.", true
	case ae.Status == http.StatusForbidden:
		return http.StatusForbidden, "You may not read this image's annotations in the CDF project. Ask your administrator for annotationsAcl:READ and filesAcl:READ.", true
	case ae.Status == http.StatusNotFound || len(ae.Missing) > 0:
		return http.StatusNotFound, "This annotation no longer exists: it was deleted in CDF. Reload to see the current list.", true
	}
	return 0, "", false
}

// sentence makes a message start with a capital letter and end with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// wantsJSON tells fetch and API calls (JSON errors) from page loads (HTML errors).
func wantsJSON(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet || r.URL.Path == "/ws" {
		return true
	}
	accept := r.Header.Get("Accept")
	return !strings.Contains(accept, "text/html") && strings.Contains(accept, "json")
}

// handleError is Echo's HTTPErrorHandler: it logs, then answers with JSON or an HTML page.
func (s *server) handleError(err error, c echo.Context) {
	status, message := classify(err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if c.Response().Committed {
		// Too late to answer: the status and part of the body are out, and the person gets a
		// broken download. The log at least says so.
		if status != 499 {
			level = slog.LevelWarn
		}
		s.log.Log(c.Request().Context(), level, "request failed after its answer had begun", "method", c.Request().Method,
			"route", c.Path(), "status", c.Response().Status, "err", err, "request_id", requestID(c))
		return
	}
	s.log.Log(c.Request().Context(), level, "request failed",
		"method", c.Request().Method, "route", c.Path(), "status", status, "err", err, "request_id", requestID(c))
	if status == 499 {
		return
	}
	r := c.Request()
	if errors.Is(err, auth.ErrSessionEnded) {
		s.Auth.ClearCookie(c.Response(), r)
	}
	if status == http.StatusUnauthorized && !wantsJSON(r) {
		_ = c.Redirect(http.StatusSeeOther, s.signInURL(r.URL.RequestURI()))
		return
	}
	if wantsJSON(c.Request()) {
		var body errorBody
		body.Error.Message = message
		body.Error.RequestID = requestID(c)
		_ = c.JSON(status, body)
		return
	}
	_ = s.render(c, status, views.Error(views.ErrorPage{
		Layout:    s.layout(c, http.StatusText(status)),
		Status:    status,
		Title:     http.StatusText(status),
		Message:   message,
		Reference: requestID(c),
	}))
}
