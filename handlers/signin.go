package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/auth"
	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/views"
)

// signInPage shows the local display-name form, or the identity provider's button.
func (s *server) signInPage(c echo.Context) error {
	return s.renderSignIn(c, http.StatusOK, c.QueryParam("return_to"), "", "")
}

func (s *server) renderSignIn(c echo.Context, status int, returnTo, name, problem string) error {
	returnTo = auth.SafeReturnTo(returnTo)
	p := views.SignInPage{Layout: s.layout(c, "Sign in"), ReturnTo: returnTo, Name: name, Error: problem}
	if s.LocalSignIn {
		// The only form a browser without a session posts, so the only page that needs a
		// token bound to a pre-session cookie.
		token, err := s.signInToken(c)
		if err != nil {
			return err
		}
		p.CSRFToken = token
	} else {
		p.ProviderURL = s.signInURL(returnTo)
		p.ProviderName = s.ProviderName
	}
	return s.render(c, status, views.SignIn(p))
}

// signInLocal signs a local-mode user in by display name. cmd/web refuses to serve local mode
// on a non-loopback address unless told that this is unsafe.
func (s *server) signInLocal(c echo.Context) error {
	if !s.LocalSignIn {
		return echo.ErrNotFound
	}
	name := strings.TrimSpace(c.FormValue("name"))
	returnTo := c.FormValue("return_to")
	err := s.Auth.SignInLocal(c.Response(), c.Request(), name)
	if errors.Is(err, auth.ErrInvalidName) {
		return s.renderSignIn(c, http.StatusBadRequest, returnTo, name, "Pick a display name of 1 to 64 characters.")
	}
	if err != nil {
		return err
	}
	// The new session cookie brings a new token; the sign-in form's is done with.
	s.clearPreSession(c)
	return c.Redirect(http.StatusSeeOther, auth.SafeReturnTo(returnTo))
}

// login starts the identity provider's sign-in (authorization code with PKCE).
func (s *server) login(c echo.Context) error {
	if s.LocalSignIn {
		return c.Redirect(http.StatusSeeOther, s.signInURL(c.QueryParam("return_to")))
	}
	to, err := s.Auth.StartLogin(c.Response(), c.Request(), c.QueryParam("return_to"))
	if errors.Is(err, auth.ErrLoginReturnTo) {
		// Lasso's own links never get here (they fall back to "/"); a hand-made one does.
		return s.renderSignIn(c, http.StatusBadRequest, "/", "", fmt.Sprintf(
			"The address to come back to after signing in is too long (more than %d bytes). Sign in to start from the home page.", auth.MaxReturnTo))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, to)
}

// callback finishes the sign-in. When it fails, no session exists; the page says what
// happened and offers to sign in again.
func (s *server) callback(c echo.Context) error {
	to, err := s.Auth.FinishLogin(c.Response(), c.Request())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, to)
	}
	msg := "Signing in did not work. Sign in again."
	switch {
	case errors.Is(err, auth.ErrLoginDenied):
		msg = "The identity provider refused the sign-in. Sign in again, or ask your administrator for access to Lasso."
	case errors.Is(err, auth.ErrLoginState):
		msg = "This sign-in link is no longer valid: it was used already, has expired, or was started in another browser. Sign in again."
	case errors.Is(err, auth.ErrLoginExchange), errors.Is(err, auth.ErrLoginToken):
		msg = "The identity provider's answer could not be verified. Sign in again; if it keeps happening, tell your administrator."
	}
	s.log.Warn("sign-in failed", "err", err)
	return s.renderSignIn(c, http.StatusBadRequest, "/", "", msg)
}

// logout ends the login session (POST, so the CSRF check guards it), closes its WebSockets
// and, where the provider has one, goes through its end-session endpoint.
func (s *server) logout(c echo.Context) error {
	r := c.Request()
	// The session's id is known only while it exists. Without it (no session, or the store
	// failing) no socket is closed here; a socket's own session check closes it later.
	var sessionID string
	if sess, err := s.Auth.Current(r); err == nil {
		sessionID = sess.ID
	} else if !errors.Is(err, auth.ErrNoSession) {
		s.log.Warn("sign-out: current session", "err", err)
	}
	to, err := s.Auth.SignOut(c.Response(), r)
	if err != nil {
		return err
	}
	// Signed out, the browser holds no secret its old token is bound to: the next sign-in
	// form starts a new pre-session.
	s.clearPreSession(c)
	if sessionID != "" {
		s.sockets.end(sessionID, reasonSignedOut)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// capabilityWarnings asks CDF once per login session what the user may do (token inspect) and
// says plainly what is missing, instead of failing later.
func (s *server) capabilityWarnings(c echo.Context) []string {
	sess := sessionOf(c)
	if sess == nil {
		return nil
	}
	var caps capabilities
	if len(sess.Capabilities) == 0 || json.Unmarshal(sess.Capabilities, &caps) != nil {
		var err error
		caps, err = s.inspect(c.Request().Context(), userOf(c))
		if err != nil {
			s.log.Warn("token inspect failed", "err", err)
			return []string{"Lasso could not check your CDF access (token inspect failed); some actions may fail."}
		}
		if b, err := json.Marshal(caps); err == nil {
			_ = s.Auth.SetCapabilities(c.Request().Context(), sess.ID, b)
		}
	}
	return caps.warnings(s.Project)
}

// capabilities is what Lasso needs to know of a user's CDF access.
type capabilities struct {
	FilesRead        bool `json:"filesRead"`
	AnnotationsWrite bool `json:"annotationsWrite"`
	AnnotationsSugg  bool `json:"annotationsSuggest"`
}

func (s *server) inspect(ctx context.Context, u User) (capabilities, error) {
	client, err := s.Clients(ctx, u)
	if err != nil {
		return capabilities{}, err
	}
	t, err := client.Token.Inspect(ctx)
	if err != nil {
		return capabilities{}, err
	}
	return capabilitiesOf(t, s.Project), nil
}

func capabilitiesOf(t *cdf.TokenInspection, project string) capabilities {
	return capabilities{
		FilesRead:        t.HasCapability("filesAcl", "READ", project),
		AnnotationsWrite: t.HasCapability("annotationsAcl", "WRITE", project),
		AnnotationsSugg:  t.HasCapability("annotationsAcl", "SUGGEST", project),
	}
}

func (c capabilities) warnings(project string) []string {
	var w []string
	if !c.FilesRead {
		w = append(w, fmt.Sprintf("You lack filesAcl:READ in CDF project %s: you cannot open its images. Ask your CDF administrator for it.", project))
	}
	if !c.AnnotationsWrite && !c.AnnotationsSugg {
		w = append(w, fmt.Sprintf("You lack annotationsAcl:WRITE or SUGGEST in CDF project %s: you can segment, but not save annotations. Ask your CDF administrator for one of them.", project))
	}
	return w
}
