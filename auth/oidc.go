package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/store"
)

// SafeReturnTo returns s if it is a same-site relative path ("/…") of at most MaxReturnTo
// bytes, else "/". It refuses anything a browser could resolve to another origin: schemes,
// hosts, protocol-relative "//…", backslashes (browsers read "/\evil" as "//evil"), and
// control characters (browsers drop tabs and newlines, turning "/\t/evil" into "//evil").
func SafeReturnTo(s string) string {
	if s == "" || len(s) > MaxReturnTo || s[0] != '/' {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	if strings.HasPrefix(s, "//") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return s
}

// Login starts an OIDC sign-in: GET /auth/login?return_to=/path. It makes a fresh state,
// nonce and PKCE verifier, seals them with the return-to path into a short-lived cookie that
// binds the sign-in to this browser (so a sign-in started elsewhere cannot be completed here:
// no login CSRF), and redirects to the provider with the S256 code challenge. It stores
// nothing on the server.
func (m *Manager) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.oauth == nil {
			m.cfg.OnError(w, r, ErrOIDCDisabled)
			return
		}
		target, err := m.StartLogin(w, r, r.URL.Query().Get("return_to"))
		if err != nil {
			m.cfg.OnError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusFound)
	})
}

// StartLogin is Login as a function: it sets the binding cookie and returns the provider URL
// to redirect to. returnTo is passed through SafeReturnTo; one longer than MaxReturnTo bytes
// is refused with an error wrapping ErrLoginReturnTo.
func (m *Manager) StartLogin(w http.ResponseWriter, r *http.Request, returnTo string) (string, error) {
	if m.oauth == nil {
		return "", ErrOIDCDisabled
	}
	if len(returnTo) > MaxReturnTo {
		return "", fmt.Errorf("%w (it has %d)", ErrLoginReturnTo, len(returnTo))
	}
	state, err := randomString()
	if err != nil {
		return "", fmt.Errorf("auth: login: %w", err)
	}
	nonce, err := randomString()
	if err != nil {
		return "", fmt.Errorf("auth: login: %w", err)
	}
	verifier := oauth2.GenerateVerifier()
	p := pendingLogin{Nonce: nonce, Verifier: verifier, ReturnTo: SafeReturnTo(returnTo),
		ExpiresAt: m.now().Add(m.cfg.LoginTimeout)}
	if err := m.setLoginCookie(w, r, state, p); err != nil {
		return "", err
	}
	return m.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Callback finishes an OIDC sign-in: GET /auth/callback?code=…&state=…. On success it creates
// the session, sets the cookie and redirects to the remembered return-to path. On any
// failure it calls OnError with an error wrapping one of the ErrLogin… errors, and no
// session is created.
func (m *Manager) Callback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, err := m.FinishLogin(w, r)
		if err != nil {
			m.cfg.OnError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// FinishLogin is Callback as a function: it returns the path to redirect to, or the error.
//
// A sign-in is used once: its cookie is cleared by the first callback that presents it, and a
// sign-in that yields a session is recorded as used until it would have expired, so replaying
// its callback fails even with a copy of the old cookie. Failed callbacks record nothing, so
// requests without a real sign-in at the provider cannot fill the store.
func (m *Manager) FinishLogin(w http.ResponseWriter, r *http.Request) (string, error) {
	if m.oauth == nil {
		return "", ErrOIDCDisabled
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		return "", fmt.Errorf("%w: the callback has no state", ErrLoginState)
	}
	// Only this browser's cookie for this state says which sign-in this is, so a forged
	// callback opened in another browser finds nothing to use up.
	c, err := r.Cookie(m.loginCookieName(state))
	if err != nil {
		return "", fmt.Errorf("%w: this sign-in was not started in this browser", ErrLoginState)
	}
	m.clearLoginCookie(w, r, c.Name)
	pending, err := m.openLogin(state, c.Value)
	if err != nil {
		return "", fmt.Errorf("%w: unknown or already used (%v)", ErrLoginState, err)
	}
	now := m.now()
	if !now.Before(pending.ExpiresAt) {
		return "", fmt.Errorf("%w: the sign-in took too long", ErrLoginState)
	}
	key := usedKey(state)
	// Checked before the code goes to the provider; MarkUsed below settles races.
	if used, err := m.cfg.PendingLogins.Used(ctx, key); err != nil {
		return "", fmt.Errorf("auth: callback: %w", err)
	} else if used {
		return "", fmt.Errorf("%w: already used", ErrLoginState)
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("%w: %s", ErrLoginDenied, errorCode(e))
	}
	code := q.Get("code")
	if code == "" {
		return "", fmt.Errorf("%w: the callback has no code", ErrLoginExchange)
	}
	if pending.Verifier == "" {
		// Never exchange without PKCE, even if a sealed sign-in somehow lacks its verifier.
		return "", fmt.Errorf("%w: the sign-in has no PKCE verifier", ErrLoginExchange)
	}
	tok, err := m.oauth.Exchange(m.providerContext(ctx), code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrLoginExchange, describeOAuthError(err))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return "", fmt.Errorf("%w: the provider sent no ID token", ErrLoginToken)
	}
	idt, err := m.verifier.Verify(m.providerContext(ctx), rawID)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrLoginToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return "", fmt.Errorf("%w: nonce mismatch", ErrLoginToken)
	}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("%w: claims: %v", ErrLoginToken, err)
	}
	// Recorded last, when nothing but the session is left to do, and atomically: of two
	// callbacks racing with the same sign-in, only one gets a session.
	if err := m.cfg.PendingLogins.MarkUsed(ctx, key, pending.ExpiresAt, now, maxUsedLogins); errors.Is(err, store.ErrConflict) {
		return "", fmt.Errorf("%w: already used", ErrLoginState)
	} else if err != nil {
		return "", fmt.Errorf("auth: callback: %w", err)
	}
	name := firstNonEmpty(claims.Name, claims.PreferredUsername, claims.Email, idt.Subject)
	rec := &store.Session{Subject: idt.Subject, Name: name, Email: claims.Email, Mode: store.ModeOIDC}
	blob := tokenBlob{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
		Expiry: tok.Expiry, IDToken: rawID}
	if err := m.createSession(w, r, rec, &blob); err != nil {
		return "", err
	}
	return SafeReturnTo(pending.ReturnTo), nil
}

// providerContext makes oauth2 and go-oidc use the configured HTTP client.
func (m *Manager) providerContext(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, m.hc), m.hc)
}

// describeOAuthError keeps the provider's error code and drops its description and body,
// which may echo the code or other request data.
func describeOAuthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return errorCode(re.ErrorCode)
		}
		if re.Response != nil {
			return fmt.Sprintf("the token endpoint answered %s", re.Response.Status)
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "the identity provider could not be reached: " + ue.Err.Error()
	}
	return "the token endpoint's answer could not be used"
}

// errorCode limits an OAuth error code to its registered alphabet, so nothing else from the
// request ends up in messages shown to users.
func errorCode(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
