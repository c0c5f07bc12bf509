package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// The CSRF token travels in this header (fetch) or this field of a POST body (plain forms),
// never in the URL: a URL ends up in logs, history and Referer headers.
const (
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
)

// preSessionCookie holds a random secret that binds the sign-in form's CSRF token to the
// browser before it has a login session. It is set only by the local sign-in form.
const preSessionCookie = "lasso_presession"

var (
	errCSRF = newProblem(http.StatusForbidden,
		"The request lacks a valid CSRF token. Reload the page and try again.")
	errCrossSite = newProblem(http.StatusForbidden,
		"The request came from another site, so Lasso refused it. Use Lasso's own pages to make changes.")
)

// csrfToken is the token of a browser: an HMAC-SHA256 keyed with the secret the browser
// holds in an HttpOnly cookie (its login session's, or before sign-in its pre-session one), so
// a token is worth nothing without that very cookie, and a cookie planted by someone else
// does not come with its token. Signing in and out replace the cookie, and with it the token.
// kind keeps a session's tokens apart from a pre-session's made from the same bytes.
func csrfToken(kind, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("lasso csrf v1 " + kind))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// csrfBinding is what the request's token must be bound to: the login session cookie when
// the browser sends one (whether or not its session still exists: requireUser tells the
// browser to sign in again), else the pre-session cookie. ok is false when there is neither.
func (s *server) csrfBinding(r *http.Request) (kind, secret string, ok bool) {
	if c, err := r.Cookie(s.Auth.CookieName()); err == nil && c.Value != "" {
		return "session", c.Value, true
	}
	if c, err := r.Cookie(preSessionCookie); err == nil && c.Value != "" {
		return "pre-session", c.Value, true
	}
	return "", "", false
}

// pageToken is the CSRF token for the page being rendered, "" for a browser without a login
// session (its pages have no forms; the sign-in form asks signInToken).
func (s *server) pageToken(r *http.Request) string {
	kind, secret, ok := s.csrfBinding(r)
	if !ok || kind != "session" {
		return ""
	}
	return csrfToken(kind, secret)
}

// signInToken is the CSRF token for the local sign-in form. A browser without any session
// cookie gets a new pre-session cookie here, the only response that sets one.
func (s *server) signInToken(c echo.Context) (string, error) {
	if kind, secret, ok := s.csrfBinding(c.Request()); ok {
		return csrfToken(kind, secret), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(c.Response(), &http.Cookie{Name: preSessionCookie, Value: secret, Path: "/",
		HttpOnly: true, Secure: s.scheme(c.Request()) == "https", SameSite: http.SameSiteLaxMode})
	return csrfToken("pre-session", secret), nil
}

// clearPreSession expires the pre-session cookie: at sign-in and sign-out, so that the next
// sign-in form gets a new secret, and with it a new token.
func (s *server) clearPreSession(c echo.Context) {
	http.SetCookie(c.Response(), &http.Cookie{Name: preSessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.scheme(c.Request()) == "https", SameSite: http.SameSiteLaxMode})
}

// safeMethod reports whether a request changes nothing, so needs no CSRF check.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// csrf guards every state-changing request twice. First, where the browser says where the
// request comes from (Fetch Metadata's Sec-Fetch-Site, else Origin), it must be this origin or
// this site: another site's page is refused even if it somehow holds a token. A request that
// says neither is not a browser's (browsers send Origin on every POST), so it goes on to the
// second check alone: the token, from the X-CSRF-Token header or the _csrf field of a form
// body, must be the one bound to the browser's cookie (see csrfToken).
func (s *server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if safeMethod(r.Method) {
			return next(c)
		}
		if !s.fromThisSite(r) {
			return errCrossSite
		}
		// A form body is read here in any case, so that a body that cannot be read (too
		// large) is answered as such, not as the empty form handlers would then see.
		got, err := formToken(r)
		if err != nil {
			return err
		}
		if h := r.Header.Get(csrfHeader); h != "" {
			got = h
		}
		kind, secret, ok := s.csrfBinding(r)
		if !ok || got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(kind, secret))) {
			return errCSRF
		}
		return next(c)
	}
}

// fromThisSite reports whether a browser's state-changing request comes from this site's own
// pages. Sec-Fetch-Site, which pages cannot forge, decides when present: same-origin and
// same-site pass, and so does none (the user's own action, e.g. a bookmark), cross-site does
// not. Without it (older browsers) an Origin header must name this very origin; "null" (a
// sandboxed frame, a file: page) is refused. With neither, the request is not a browser's.
func (s *server) fromThisSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	return origin == "" || s.sameOrigin(r, origin)
}

// sameOrigin reports whether origin (an Origin header) names the origin the request was made
// to, scheme and host alike.
func (s *server) sameOrigin(r *http.Request, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := s.scheme(r)
	return strings.EqualFold(u.Scheme, scheme) && withoutDefaultPort(u.Host, scheme) == withoutDefaultPort(r.Host, scheme)
}

// formToken reads a form body (urlencoded or multipart) and returns its token field, never the
// query string's; other bodies (JSON) are left unread for the handler.
func formToken(r *http.Request) (string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch mt {
	case echo.MIMEApplicationForm:
		if err := r.ParseForm(); err != nil {
			return "", formError(err)
		}
	case echo.MIMEMultipartForm:
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil {
			return "", formError(err)
		}
	default:
		return "", nil
	}
	return r.PostForm.Get(csrfField), nil // PostForm holds the body's fields only
}

// formError is the answer to a form body that could not be read.
func formError(err error) error {
	if tooLarge(err) {
		return echo.ErrStatusRequestEntityTooLarge
	}
	return newProblem(http.StatusBadRequest, "The form could not be read.")
}

// tooLarge reports whether reading a body failed because it is over maxBodyBytes: Echo's
// body limit reports a body without Content-Length (chunked) that grows too large as an
// echo.HTTPError 413 while it is read; http.MaxBytesReader as *http.MaxBytesError.
func tooLarge(err error) bool {
	var he *echo.HTTPError
	var mb *http.MaxBytesError
	return errors.As(err, &mb) || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge
}
