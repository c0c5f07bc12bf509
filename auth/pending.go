package auth

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// A sign-in in flight (state, nonce, PKCE verifier, return-to path, expiry) is kept in the
// browser that started it, not on the server: StartLogin seals it with the session key
// (AES-256-GCM, see Key) into a short-lived cookie whose name carries a prefix of the state and
// whose sealing authenticates the whole state. Anybody may start sign-ins without signing in,
// so starting one must cost the server nothing it keeps; only a finished sign-in is recorded
// (store.PendingLogins), so that its callback cannot be replayed.
//
// One cookie per sign-in, named after its state, lets sign-ins in several tabs of one browser
// run at once without overwriting each other. Their number needs no cap of ours: each lives
// LoginTimeout, is sent only to the callback path, and is at most ~3 KB (MaxReturnTo bounds
// its only variable part), below browsers' 4 KB per cookie; browsers bound cookies per site.

// MaxReturnTo is the longest return-to path, in bytes, that a sign-in accepts.
const MaxReturnTo = 2048

// maxUsedLogins caps the record of finished sign-ins. Only sign-ins that the provider
// completed are recorded, each until it would have expired (LoginTimeout), so the cap is met
// only by more than this many successful sign-ins within LoginTimeout; the store then drops
// the records that expire first, which still leaves a replay to face the provider's
// single-use codes and the browser's cleared cookie.
const maxUsedLogins = 10_000

// loginCookieVersion leads a sealed sign-in, so that a later layout can be told apart.
const loginCookieVersion = 1

// pendingLogin is a sign-in in flight as its cookie carries it; the state is the cookie's
// name and the sealing's additional data, not part of the payload.
type pendingLogin struct {
	Nonce     string
	Verifier  string
	ReturnTo  string
	ExpiresAt time.Time
}

// loginAAD binds a sealed sign-in to its state, and keeps it apart from token blobs sealed
// with the same key.
func loginAAD(state string) string { return "lasso sign-in\x00" + state }

// sealLogin encodes p (version, expiry in Unix microseconds, then nonce, verifier and
// return-to, each with its length) and seals it for state as a cookie value.
func (m *Manager) sealLogin(state string, p pendingLogin) (string, error) {
	b := make([]byte, 0, 1+8+3*binary.MaxVarintLen64+len(p.Nonce)+len(p.Verifier)+len(p.ReturnTo))
	b = append(b, loginCookieVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.ExpiresAt.UnixMicro()))
	for _, f := range []string{p.Nonce, p.Verifier, p.ReturnTo} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	sealed, err := m.cfg.Key.seal(b, loginAAD(state))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// errLoginCookie: a cookie that does not open for the state it is named after.
var errLoginCookie = errors.New("the binding cookie was not made by this server for this state")

// openLogin is the inverse of sealLogin: it fails unless value was sealed with this key for
// exactly this state and is intact.
func (m *Manager) openLogin(state, value string) (pendingLogin, error) {
	// base64 of a sealed payload with a return-to of MaxReturnTo bytes stays well below this.
	if len(value) > 4096 {
		return pendingLogin{}, errLoginCookie
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return pendingLogin{}, errLoginCookie
	}
	b, err := m.cfg.Key.open(sealed, loginAAD(state))
	if err != nil || len(b) < 9 || b[0] != loginCookieVersion {
		return pendingLogin{}, errLoginCookie
	}
	p := pendingLogin{ExpiresAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9])))}
	b = b[9:]
	for _, f := range []*string{&p.Nonce, &p.Verifier, &p.ReturnTo} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return pendingLogin{}, errLoginCookie
		}
		*f = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return pendingLogin{}, errLoginCookie
	}
	return p, nil
}

// loginCookieName is per sign-in (a prefix of its state) so that two tabs signing in at once
// do not overwrite each other's binding.
func (m *Manager) loginCookieName(state string) string {
	if len(state) > 12 {
		state = state[:12]
	}
	return m.cfg.CookieName + "_login_" + state
}

// setLoginCookie binds the sign-in to this browser until it expires.
func (m *Manager) setLoginCookie(w http.ResponseWriter, r *http.Request, state string, p pendingLogin) error {
	v, err := m.sealLogin(state, p)
	if err != nil {
		return fmt.Errorf("auth: login: seal: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     m.loginCookieName(state),
		Value:    v,
		Path:     m.loginCookiePath,
		MaxAge:   int(m.cfg.LoginTimeout.Seconds()),
		HttpOnly: true,
		Secure:   m.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// clearLoginCookie expires a binding cookie in the browser.
func (m *Manager) clearLoginCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: m.loginCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode})
}

// usedKey is the store key recording that the sign-in with this state has been used: a
// digest, like session ids, so the store keeps nothing a request carries.
func usedKey(state string) string { return storeID("sign-in\x00" + state) }
