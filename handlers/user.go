package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// User is the person behind a request. Handlers read it from the request, never from a
// global, so that sign-in can decide it per request.
type User struct {
	ID   string // stable identifier, e.g. the OIDC subject
	Name string // display name
}

// UserResolver finds the user of a request; ok is false when nobody is signed in.
type UserResolver interface {
	User(r *http.Request) (u User, ok bool)
}

// LocalUser is the UserResolver of local mode before sign-in exists: everybody is the same user.
type LocalUser User

// User implements UserResolver.
func (l LocalUser) User(*http.Request) (User, bool) { return User(l), true }

type userKey struct{}

// requireUser resolves the user once per request and stores it in the request's context.
func requireUser(users UserResolver) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, ok := users.User(c.Request())
			if !ok {
				return errSignInRequired
			}
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
			return next(c)
		}
	}
}

// userOf returns the user stored by requireUser.
func userOf(c echo.Context) User {
	u, _ := c.Request().Context().Value(userKey{}).(User)
	return u
}
