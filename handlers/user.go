package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/auth"
)

// User is the person behind a request, from their login session. Handlers read it from the
// request's context, never from a global.
type User struct {
	ID        string // stable identifier: the OIDC subject, or local:<name> in local mode
	Name      string // display name
	SessionID string // the login session whose tokens act for this user
}

// sessions is what handlers need of auth.Manager.
type sessions interface {
	Current(r *http.Request) (*auth.Session, error)
	StartLogin(w http.ResponseWriter, r *http.Request, returnTo string) (redirect string, err error)
	FinishLogin(w http.ResponseWriter, r *http.Request) (redirect string, err error)
	SignOut(w http.ResponseWriter, r *http.Request) (redirect string, err error)
	SignInLocal(w http.ResponseWriter, r *http.Request, displayName string) error
	ClearCookie(w http.ResponseWriter, r *http.Request)
	// CookieName names the login session cookie, whose secret the CSRF token is bound to.
	CookieName() string
	SetCapabilities(ctx context.Context, sessionID string, caps json.RawMessage) error
}

type userKey struct{}
type sessionKey struct{}

// requireUser resolves the login session once per request. Without one, a page load is sent
// to sign in (and comes back afterwards); anything else gets 401.
func (s *server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		sess, err := s.Auth.Current(r)
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) {
				return err
			}
			s.Auth.ClearCookie(c.Response(), r)
			return errSignInRequired
		}
		u := User{ID: sess.Subject, Name: sess.Name, SessionID: sess.ID}
		ctx := context.WithValue(r.Context(), userKey{}, u)
		ctx = context.WithValue(ctx, sessionKey{}, sess)
		c.SetRequest(r.WithContext(ctx))
		return next(c)
	}
}

// userOf returns the user stored by requireUser.
func userOf(c echo.Context) User {
	u, _ := c.Request().Context().Value(userKey{}).(User)
	return u
}

// sessionOf returns the login session stored by requireUser, or nil on public pages.
func sessionOf(c echo.Context) *auth.Session {
	sess, _ := c.Request().Context().Value(sessionKey{}).(*auth.Session)
	return sess
}

// signInURL is where a page load without a session goes; it comes back to returnTo.
func (s *server) signInURL(returnTo string) string {
	q := url.Values{"return_to": {auth.SafeReturnTo(returnTo)}}.Encode()
	if s.LocalSignIn {
		return "/signin?" + q
	}
	return "/auth/login?" + q
}
