// Package auth signs users in and keeps their login sessions: OIDC authorization code with
// PKCE (S256), state and nonce in CDF mode; a display-name sign-in in local mode; and, per
// session, a token source that refreshes the user's access token before it expires.
//
// The browser holds only an opaque random session id in an HttpOnly, SameSite=Lax cookie.
// Access, refresh and ID tokens stay on the server, encrypted with AES-256-GCM (see Key)
// inside the store's session record, whose key is a SHA-256 digest of the cookie value, so
// neither a database dump nor a log line holds anything a browser could replay. While an OIDC
// sign-in is in flight, its state, nonce and PKCE verifier travel sealed with the same key in
// a short-lived cookie of the browser that started it; the server keeps only which sign-ins
// have been used, so starting sign-ins costs it no storage.
//
// The package works at the net/http level: Login, Callback and Logout are plain
// http.Handlers for the web layer to mount; CSRF checks on Logout and the rendering of
// errors (OnError) are the web layer's. It never logs.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/store"
)

// Errors callers branch on. Errors from this package wrap one of these (errors.Is).
var (
	// ErrNoSession: the request carries no valid login session (none, unknown, or expired).
	ErrNoSession = errors.New("auth: not signed in")
	// ErrSessionEnded: the session can no longer get tokens (the provider refused the refresh
	// token, e.g. invalid_grant, or the session was signed out or expired meanwhile). The
	// session has been deleted; the user must sign in again.
	ErrSessionEnded = errors.New("auth: the sign-in has ended; sign in again")
	// ErrNoTokens: the session was not made by an OIDC sign-in (e.g. local mode) and carries
	// no tokens.
	ErrNoTokens = errors.New("auth: this session carries no tokens")
	// ErrInvalidName: a local sign-in's display name is empty, too long or not printable.
	ErrInvalidName = errors.New("auth: the display name must be 1 to 64 printable characters")
	// ErrOIDCDisabled: Login or Callback was called on a Manager without OIDC configuration.
	ErrOIDCDisabled = errors.New("auth: OIDC sign-in is not configured")

	// ErrLoginState: the callback's state is missing, unknown, expired, already used, or
	// belongs to a sign-in started in another browser.
	ErrLoginState = errors.New("auth: sign-in state is missing, unknown, expired or already used")
	// ErrLoginDenied: the identity provider returned an error instead of a code.
	ErrLoginDenied = errors.New("auth: the identity provider refused the sign-in")
	// ErrLoginExchange: the code could not be exchanged for tokens (replayed or unknown code,
	// PKCE verifier mismatch, client misconfigured, provider unreachable).
	ErrLoginExchange = errors.New("auth: the sign-in code could not be exchanged")
	// ErrLoginToken: the ID token is missing or fails verification (signature, issuer,
	// audience, expiry, nonce).
	ErrLoginToken = errors.New("auth: the identity token is not valid")
	// ErrLoginReturnTo: the path to return to after the sign-in is longer than MaxReturnTo.
	ErrLoginReturnTo = fmt.Errorf("auth: the return-to path is longer than %d bytes", MaxReturnTo)
)

// DefaultCookieName is the session cookie's name when Config.CookieName is empty.
const DefaultCookieName = "lasso_session"

// Config is what New needs. Zero durations take the defaults documented per field.
type Config struct {
	Sessions      store.Sessions      // required
	PendingLogins store.PendingLogins // required for OIDC: which sign-ins have been used (bounded)
	Key           *Key                // required for OIDC: encrypts tokens at rest and seals sign-in cookies

	// CookieName names the session cookie (default DefaultCookieName). The sign-in binding
	// cookies are named CookieName + "_login_…".
	CookieName string
	// SecureCookie marks cookies Secure even when the request did not arrive over TLS here,
	// e.g. behind a TLS-terminating proxy. Requests with r.TLS set always get Secure cookies.
	SecureCookie bool

	IdleTimeout     time.Duration // a session unused this long ends (default 12 h)
	AbsoluteTimeout time.Duration // a session ends this long after sign-in, used or not (default 7 days)
	LoginTimeout    time.Duration // a started sign-in must come back within this (default 10 min)
	RefreshLeeway   time.Duration // refresh access tokens this long before they expire (default 60 s)
	RefreshTimeout  time.Duration // bound on one refresh call to the provider (default 30 s)

	// OIDC enables Login and Callback; nil for local mode.
	OIDC *OIDCConfig
	// HTTPClient talks to the identity provider (discovery, keys, token endpoint).
	// Default: a client with a 30 s timeout.
	HTTPClient *http.Client

	// OnError renders a failed sign-in (Callback or Login); err wraps one of the ErrLogin…
	// errors (ErrLoginReturnTo from Login) or ErrOIDCDisabled. No session exists at that
	// point. The default writes a plain-text 400 page with a "sign in again" link.
	OnError func(w http.ResponseWriter, r *http.Request, err error)

	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// OIDCConfig is the identity provider and this application's registration with it.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; discovery reads Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes requested; "openid" is added when missing. For CDF e.g.
	// https://{cluster}.cognitedata.com/user_impersonation, …/IDENTITY, profile, email, offline_access.
	Scopes []string
	// RedirectURL is the absolute callback URL registered with the provider, e.g.
	// https://lasso.example.com/auth/callback. Its path scopes the sign-in binding cookie.
	RedirectURL string
	// PostLogoutRedirectURL is where the provider sends the browser after its end-session
	// endpoint (absolute, registered with the provider); empty omits the parameter.
	PostLogoutRedirectURL string
}

// Manager signs users in and out and hands out their tokens. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	now      func() time.Time
	hc       *http.Client
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint, when discovery advertises one.
	endSession string
	// loginCookiePath scopes the sign-in binding cookies to the callback.
	loginCookiePath string
	locks           keyedMutex
	// owner names this Manager among the replicas sharing the sessions, for refresh leases.
	owner string
}

// New makes a Manager. With cfg.OIDC set it runs provider discovery now, so a wrong issuer
// fails at start-up rather than at the first sign-in.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("auth: Config.Sessions is required")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 12*time.Hour)
	def(&cfg.AbsoluteTimeout, 7*24*time.Hour)
	def(&cfg.LoginTimeout, 10*time.Minute)
	def(&cfg.RefreshLeeway, 60*time.Second)
	def(&cfg.RefreshTimeout, 30*time.Second)
	if cfg.OnError == nil {
		cfg.OnError = defaultOnError
	}
	m := &Manager{cfg: cfg, now: cfg.Now, hc: cfg.HTTPClient, owner: newOwner()}
	if m.now == nil {
		m.now = time.Now
	}
	if m.hc == nil {
		m.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.OIDC != nil {
		if err := m.setupOIDC(ctx, cfg.OIDC); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Manager) setupOIDC(ctx context.Context, oc *OIDCConfig) error {
	if m.cfg.PendingLogins == nil || m.cfg.Key == nil {
		return errors.New("auth: OIDC needs Config.PendingLogins and Config.Key")
	}
	if oc.Issuer == "" || oc.ClientID == "" || oc.RedirectURL == "" {
		return errors.New("auth: OIDC needs Issuer, ClientID and RedirectURL")
	}
	ru, err := url.Parse(oc.RedirectURL)
	if err != nil || !ru.IsAbs() || ru.Host == "" {
		return fmt.Errorf("auth: OIDC RedirectURL %q must be an absolute URL", oc.RedirectURL)
	}
	m.loginCookiePath = ru.Path
	if m.loginCookiePath == "" {
		m.loginCookiePath = "/"
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, m.hc), oc.Issuer)
	if err != nil {
		return fmt.Errorf("auth: OIDC discovery for %s: %w", oc.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&extra); err != nil {
		return fmt.Errorf("auth: OIDC discovery document: %w", err)
	}
	m.endSession = extra.EndSession
	scopes := append([]string(nil), oc.Scopes...)
	hasOpenID := false
	for _, s := range scopes {
		hasOpenID = hasOpenID || s == oidc.ScopeOpenID
	}
	if !hasOpenID {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	m.oauth = &oauth2.Config{
		ClientID:     oc.ClientID,
		ClientSecret: oc.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  oc.RedirectURL,
		Scopes:       scopes,
	}
	// go-oidc checks signature (keys from the provider's JWKS), issuer, audience == our client
	// id, and expiry; the nonce is ours to compare.
	m.verifier = provider.Verifier(&oidc.Config{ClientID: oc.ClientID, Now: m.now})
	return nil
}

// Session is a signed-in user as the web layer sees it. It carries no tokens.
type Session struct {
	// ID is the session's store key: a digest of the cookie value. It identifies the session
	// (e.g. to tie a job to the session whose token follows it) but cannot be used to sign in.
	ID           string
	Subject      string // stable user id: the OIDC "sub", or "local:<slug>"
	Name         string // display name
	Email        string // may be empty
	Mode         string // store.ModeOIDC, store.ModeLocal or store.ModeService
	CreatedAt    time.Time
	ExpiresAt    time.Time
	Capabilities json.RawMessage // cached capability info set with SetCapabilities; may be nil
}

// String describes s without its id.
func (s Session) String() string {
	return fmt.Sprintf("auth.Session{subject=%q name=%q mode=%s}", s.Subject, s.Name, s.Mode)
}

// GoString makes %#v redact too.
func (s Session) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without the id.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("subject", s.Subject), slog.String("mode", s.Mode))
}

func fromRecord(r *store.Session) *Session {
	return &Session{ID: r.ID, Subject: r.Subject, Name: r.Name, Email: r.Email, Mode: r.Mode,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, Capabilities: r.Capabilities}
}

// Current returns the session of the request's cookie. It returns an error wrapping
// ErrNoSession when there is none, and deletes the record of a session that has expired.
// Activity extends the idle limit (at most once a minute, to spare the store a write per
// request), never past the absolute limit.
func (m *Manager) Current(r *http.Request) (*Session, error) {
	id, ok := m.cookieID(r)
	if !ok {
		return nil, ErrNoSession
	}
	ctx := r.Context()
	rec, err := m.cfg.Sessions.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("auth: current session: %w", err)
	}
	now := m.now()
	if m.expired(rec, now) {
		if err := m.cfg.Sessions.Delete(ctx, id); err != nil {
			return nil, fmt.Errorf("auth: delete expired session: %w", err)
		}
		return nil, ErrNoSession
	}
	if now.Sub(rec.LastSeenAt) >= time.Minute {
		exp := m.expiry(rec.CreatedAt, now)
		if err := m.cfg.Sessions.Touch(ctx, id, now, exp); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("auth: touch session: %w", err)
		}
		rec.LastSeenAt, rec.ExpiresAt = now, exp
	}
	return fromRecord(rec), nil
}

// Sweep deletes expired sessions and the records of used sign-ins that have expired. Sign-ins
// sweep too; a server may also call it from a ticker (e.g. hourly).
func (m *Manager) Sweep(ctx context.Context) error {
	now := m.now()
	if _, err := m.cfg.Sessions.DeleteExpired(ctx, now); err != nil {
		return fmt.Errorf("auth: sweep sessions: %w", err)
	}
	if m.cfg.PendingLogins != nil {
		if _, err := m.cfg.PendingLogins.DeleteExpired(ctx, now); err != nil {
			return fmt.Errorf("auth: sweep sign-ins: %w", err)
		}
	}
	return nil
}

// SetCapabilities caches capability information (e.g. the result of CDF's token/inspect) in
// the session; Current returns it.
func (m *Manager) SetCapabilities(ctx context.Context, sessionID string, capabilities json.RawMessage) error {
	if err := m.cfg.Sessions.SetCapabilities(ctx, sessionID, capabilities); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoSession
		}
		return fmt.Errorf("auth: set capabilities: %w", err)
	}
	return nil
}

func (m *Manager) expired(rec *store.Session, now time.Time) bool {
	return !now.Before(rec.ExpiresAt) || !now.Before(rec.CreatedAt.Add(m.cfg.AbsoluteTimeout))
}

// expiry is when a session created at created and seen at seen ends: the idle limit from
// seen, capped by the absolute limit from created.
func (m *Manager) expiry(created, seen time.Time) time.Time {
	idle, abs := seen.Add(m.cfg.IdleTimeout), created.Add(m.cfg.AbsoluteTimeout)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// SignInLocal signs the request's browser in as a local-mode user with the given display
// name (trimmed; 1..64 printable characters, else ErrInvalidName). The subject is
// "local:<slug of the name>", so the same name is the same user across browsers. The web
// layer renders the form and decides whether local sign-in is allowed at all.
func (m *Manager) SignInLocal(w http.ResponseWriter, r *http.Request, displayName string) error {
	name := strings.TrimSpace(displayName)
	if n := utf8.RuneCountInString(name); n < 1 || n > 64 || !utf8.ValidString(name) {
		return ErrInvalidName
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return ErrInvalidName
		}
	}
	return m.createSession(w, r, &store.Session{Subject: "local:" + slug(name), Name: name, Mode: store.ModeLocal}, nil)
}

// slug lower-cases letters and digits and joins the runs between them with '-'.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		// A name of only symbols still needs a stable, distinct subject.
		sum := sha256.Sum256([]byte(name))
		return "u-" + base64.RawURLEncoding.EncodeToString(sum[:9])
	}
	return b.String()
}

// createSession stores rec, with tokens sealed when given, under a new id and sets the
// cookie. An existing session of this browser is deleted first: a sign-in always gets a
// fresh id (no session fixation).
func (m *Manager) createSession(w http.ResponseWriter, r *http.Request, rec *store.Session, tokens *tokenBlob) error {
	ctx := r.Context()
	if old, ok := m.cookieID(r); ok {
		if err := m.cfg.Sessions.Delete(ctx, old); err != nil {
			return fmt.Errorf("auth: replace session: %w", err)
		}
	}
	secret, err := randomString()
	if err != nil {
		return fmt.Errorf("auth: new session id: %w", err)
	}
	now := m.now()
	rec.ID = storeID(secret)
	rec.CreatedAt, rec.LastSeenAt = now, now
	rec.ExpiresAt = m.expiry(now, now)
	if tokens != nil {
		// Sealed with the new id as associated data, so the id must be known first.
		if rec.Tokens, err = m.sealTokens(rec.ID, *tokens); err != nil {
			return err
		}
		rec.TokenExpiry = tokens.Expiry
	}
	if err := m.cfg.Sessions.Create(ctx, rec); err != nil {
		return fmt.Errorf("auth: create session: %w", err)
	}
	// Each sign-in sweeps expired sessions, so abandoned ones do not pile up even without
	// a Sweep ticker; a failure here does not concern this sign-in.
	_, _ = m.cfg.Sessions.DeleteExpired(ctx, now)
	http.SetCookie(w, &http.Cookie{
		Name:     m.cfg.CookieName,
		Value:    secret,
		Path:     "/",
		Expires:  rec.CreatedAt.Add(m.cfg.AbsoluteTimeout),
		HttpOnly: true,
		Secure:   m.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// Logout ends the request's session (if any), clears the cookie and redirects: to the
// provider's end-session endpoint when it advertises one and the session has an ID token,
// else to "/". Mount it as POST /auth/logout behind the CSRF check.
func (m *Manager) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "sign out with POST", http.StatusMethodNotAllowed)
			return
		}
		target, err := m.SignOut(w, r)
		if err != nil {
			http.Error(w, "could not sign out; try again", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// SignOut deletes the request's session and clears its cookie, and returns where to send the
// browser next (see Logout). It is idempotent.
func (m *Manager) SignOut(w http.ResponseWriter, r *http.Request) (redirect string, err error) {
	redirect = "/"
	m.ClearCookie(w, r)
	id, ok := m.cookieID(r)
	if !ok {
		return redirect, nil
	}
	ctx := r.Context()
	if rec, err := m.cfg.Sessions.Get(ctx, id); err == nil && m.endSession != "" && len(rec.Tokens) > 0 {
		if tok, err := m.decodeTokens(rec); err == nil && tok.IDToken != "" {
			redirect = m.endSessionURL(tok.IDToken)
		}
	}
	if err := m.cfg.Sessions.Delete(ctx, id); err != nil {
		return "/", fmt.Errorf("auth: sign out: %w", err)
	}
	return redirect, nil
}

func (m *Manager) endSessionURL(idToken string) string {
	u, err := url.Parse(m.endSession)
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Set("id_token_hint", idToken)
	q.Set("client_id", m.oauth.ClientID)
	if m.cfg.OIDC.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", m.cfg.OIDC.PostLogoutRedirectURL)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ClearCookie expires the session cookie in the browser, e.g. after Current reported
// ErrNoSession for a cookie that is still being sent.
func (m *Manager) ClearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: m.cfg.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode})
}

// CookieName is the session cookie's name, for the web layer (e.g. the WebSocket upgrade).
func (m *Manager) CookieName() string { return m.cfg.CookieName }

func (m *Manager) secure(r *http.Request) bool { return m.cfg.SecureCookie || r.TLS != nil }

// cookieID reads the session cookie and returns the store id it stands for.
func (m *Manager) cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(m.cfg.CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return "", false
	}
	return storeID(c.Value), true
}

// storeID is the store key of a cookie value: its SHA-256, so the store never holds the
// value a browser presents.
func storeID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomString is 32 random bytes, base64url: session ids, state, nonce.
func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func defaultOnError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "Sign-in failed: "+err.Error()+"\n\nSign in again: /auth/login", http.StatusBadRequest)
}
