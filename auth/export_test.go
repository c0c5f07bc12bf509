package auth

import "time"

// LoginCookieForTest returns the name and value of the binding cookie that StartLogin would
// set for a sign-in with these parts, so that tests can make sign-ins StartLogin never makes:
// one without a PKCE verifier, one that has already expired.
func (m *Manager) LoginCookieForTest(state, nonce, verifier, returnTo string, expiresAt time.Time) (name, value string, err error) {
	value, err = m.sealLogin(state, pendingLogin{Nonce: nonce, Verifier: verifier, ReturnTo: returnTo, ExpiresAt: expiresAt})
	return m.loginCookieName(state), value, err
}
