package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/store"
)

// tokenBlob is what the encrypted session blob holds.
type tokenBlob struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	IDToken      string    `json:"id_token,omitempty"` // kept for the end-session id_token_hint
}

func (m *Manager) sealTokens(sessionID string, t tokenBlob) ([]byte, error) {
	if m.cfg.Key == nil {
		return nil, errors.New("auth: no encryption key configured")
	}
	pt, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("auth: encode tokens: %w", err)
	}
	b, err := m.cfg.Key.seal(pt, sessionID)
	if err != nil {
		return nil, fmt.Errorf("auth: encrypt tokens: %w", err)
	}
	return b, nil
}

func (m *Manager) decodeTokens(rec *store.Session) (tokenBlob, error) {
	var t tokenBlob
	if m.cfg.Key == nil {
		return t, errors.New("auth: no encryption key configured")
	}
	pt, err := m.cfg.Key.open(rec.Tokens, rec.ID)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(pt, &t); err != nil {
		return t, errors.New("auth: token blob is not readable")
	}
	return t, nil
}

// TokenSource returns the access tokens of the session with the given id (Session.ID). Each
// Token call reads the session's current token from the store and, when it expires within
// RefreshLeeway, refreshes it with the refresh token and writes the new tokens back,
// encrypted. Refreshes of one session are serialised: concurrent callers wait and then get
// the refreshed token, with one call to the provider. When the provider refuses the refresh
// token (invalid_grant) the session is deleted and Token returns an error wrapping
// ErrSessionEnded; a session without tokens gives ErrNoTokens.
//
// Token calls carry no context; each refresh is bounded by RefreshTimeout.
func (m *Manager) TokenSource(sessionID string) oauth2.TokenSource {
	// The reuse wrapper spares the store a read per request while the token is fresh; it
	// uses the same leeway, so it asks again exactly when a refresh is due.
	return oauth2.ReuseTokenSourceWithExpiry(nil, sessionTokenSource{m: m, id: sessionID}, m.cfg.RefreshLeeway)
}

// Client returns an HTTP client that sends the session's access token (see TokenSource) on
// every request, over base (http.DefaultTransport when nil). Hand it to cdf.New.
//
// When the server answers 401 to a token that has not expired by the clock (revoked, or cut
// short by the provider), the client refreshes the session's tokens and sends the request
// once more with the new one, as a person would sign in again; concurrent requests turned
// away with the same token share one refresh. A request whose body cannot be sent again, or
// whose refresh fails, gets the 401.
func (m *Manager) Client(sessionID string, base http.RoundTripper) *http.Client {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &sessionTransport{m: m, id: sessionID, base: base}
	t.src = m.TokenSource(sessionID)
	return &http.Client{Transport: t}
}

// sessionTransport is Client's RoundTripper.
type sessionTransport struct {
	m    *Manager
	id   string
	base http.RoundTripper

	mu  sync.Mutex
	src oauth2.TokenSource // a reuse source, replaced after a refresh on 401
}

func (t *sessionTransport) source() oauth2.TokenSource {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.src
}

// RoundTrip implements http.RoundTripper.
func (t *sessionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.source().Token()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	res, err := t.send(req, tok)
	if err != nil || res.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return res, err
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.m.cfg.RefreshTimeout)
	fresh, rerr := t.m.token(ctx, t.id, tok.AccessToken)
	cancel()
	if rerr != nil || fresh.AccessToken == tok.AccessToken {
		return res, nil // the 401 stands: the caller says so
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return res, nil
		}
	}
	res.Body.Close()
	t.mu.Lock()
	t.src = oauth2.ReuseTokenSourceWithExpiry(fresh, sessionTokenSource{m: t.m, id: t.id}, t.m.cfg.RefreshLeeway)
	t.mu.Unlock()
	return t.send(retry, fresh)
}

// send sends a copy of req with tok (a RoundTripper must not change its request).
func (t *sessionTransport) send(req *http.Request, tok *oauth2.Token) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = req.Body
	tok.SetAuthHeader(r)
	return t.base.RoundTrip(r)
}

type sessionTokenSource struct {
	m  *Manager
	id string
}

// Token implements oauth2.TokenSource.
func (s sessionTokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.m.cfg.RefreshTimeout)
	defer cancel()
	return s.m.token(ctx, s.id, "")
}

// token returns the session's access token, refreshed when it expires within RefreshLeeway
// or is rejected (not ""): the token a server refused. A rejected token that the session no
// longer holds was refreshed already, by a concurrent call: its successor is returned.
func (m *Manager) token(ctx context.Context, id, rejected string) (*oauth2.Token, error) {
	unlock := m.locks.lock(id)
	defer unlock()

	// Read under the lock: a caller that waited for another's refresh sees its result here.
	rec, err := m.cfg.Sessions.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: the session no longer exists", ErrSessionEnded)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: token: %w", err)
	}
	now := m.now()
	if m.expired(rec, now) {
		_ = m.cfg.Sessions.Delete(ctx, id)
		return nil, fmt.Errorf("%w: the session expired", ErrSessionEnded)
	}
	if len(rec.Tokens) == 0 {
		return nil, ErrNoTokens
	}
	t, err := m.decodeTokens(rec)
	if err != nil {
		// Unreadable tokens (e.g. the key changed) cannot become readable again.
		return nil, m.endSessionWith(ctx, id, err.Error())
	}
	usable := func(t tokenBlob) bool {
		return t.AccessToken != "" && t.AccessToken != rejected && (t.Expiry.IsZero() || now.Add(m.cfg.RefreshLeeway).Before(t.Expiry))
	}
	if usable(t) {
		return t.oauth2(), nil
	}
	if t.RefreshToken == "" || m.oauth == nil {
		if rejected != "" {
			return nil, errors.New("auth: the access token was refused and there is no refresh token")
		}
		return nil, m.endSessionWith(ctx, id, "the access token expired and there is no refresh token")
	}
	// Another replica may be refreshing this session: one refresh token is used once.
	leased, err := m.cfg.Sessions.LeaseRefresh(ctx, id, m.owner, now, now.Add(m.cfg.RefreshTimeout+5*time.Second))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: the session no longer exists", ErrSessionEnded)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: token: %w", err)
	}
	if !leased {
		return m.awaitRefresh(ctx, id, rec.Tokens)
	}
	// Another replica may have refreshed between the read above and the lease (storing the
	// tokens ends its lease): its tokens are the ones to use, its refresh token the one to send.
	if again, err := m.cfg.Sessions.Get(ctx, id); err == nil && !bytes.Equal(again.Tokens, rec.Tokens) {
		if t, err = m.decodeTokens(again); err != nil {
			return nil, m.endSessionWith(ctx, id, err.Error())
		}
		if usable(t) {
			return t.oauth2(), nil
		}
	}
	// The old access token is left out so that oauth2 sees an invalid token and refreshes.
	fresh, err := m.oauth.TokenSource(m.providerContext(ctx), &oauth2.Token{RefreshToken: t.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return nil, m.endSessionWith(ctx, id, "the identity provider refused the refresh token (invalid_grant)")
		}
		// Anything else (provider down, timeout) may pass: keep the session.
		return nil, fmt.Errorf("auth: refresh the access token: %s", describeOAuthError(err))
	}
	next := tokenBlob{AccessToken: fresh.AccessToken, RefreshToken: fresh.RefreshToken, TokenType: fresh.TokenType,
		Expiry: fresh.Expiry, IDToken: t.IDToken}
	if next.RefreshToken == "" {
		next.RefreshToken = t.RefreshToken // providers that do not rotate send none
	}
	if id, ok := fresh.Extra("id_token").(string); ok && id != "" {
		// Not re-verified: it is only used as the end-session hint, never to identify the user.
		next.IDToken = id
	}
	blob, err := m.sealTokens(id, next)
	if err != nil {
		return nil, err
	}
	if err := m.cfg.Sessions.UpdateTokens(ctx, id, blob, next.Expiry); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Signed out during the refresh: do not hand out the token.
			return nil, fmt.Errorf("%w: the session no longer exists", ErrSessionEnded)
		}
		return nil, fmt.Errorf("auth: store refreshed tokens: %w", err)
	}
	return next.oauth2(), nil
}

// awaitRefresh waits while another replica refreshes the session's tokens, and returns the
// tokens it stored, until ctx ends.
func (m *Manager) awaitRefresh(ctx context.Context, id string, old []byte) (*oauth2.Token, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("auth: another server is refreshing the access token: %w", ctx.Err())
		case <-time.After(refreshPoll):
		}
		rec, err := m.cfg.Sessions.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: the session no longer exists", ErrSessionEnded)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: token: %w", err)
		}
		if bytes.Equal(rec.Tokens, old) {
			continue
		}
		t, err := m.decodeTokens(rec)
		if err != nil {
			return nil, m.endSessionWith(ctx, id, err.Error())
		}
		return t.oauth2(), nil
	}
}

// refreshPoll is how often awaitRefresh looks for the other replica's result.
const refreshPoll = 100 * time.Millisecond

// newOwner names a Manager among the replicas sharing the sessions.
func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "auth-" + hex.EncodeToString(b)
}

// endSessionWith deletes the session and returns ErrSessionEnded with the reason.
func (m *Manager) endSessionWith(ctx context.Context, id, reason string) error {
	if err := m.cfg.Sessions.Delete(ctx, id); err != nil {
		return fmt.Errorf("%w: %s (and deleting it failed: %v)", ErrSessionEnded, reason, err)
	}
	return fmt.Errorf("%w: %s", ErrSessionEnded, reason)
}

func (t tokenBlob) oauth2() *oauth2.Token {
	typ := t.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: typ, Expiry: t.Expiry}
}

// keyedMutex is one mutex per key, created on demand and dropped when unused, so that
// refreshes of one session queue while other sessions go ahead.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
