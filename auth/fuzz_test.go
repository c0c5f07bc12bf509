package auth

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"
)

// fuzzKey is a fixed key, so that crashers replay.
func fuzzKey(t testing.TB) *Key {
	k, err := NewKey(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzKeyOpen seals plaintext for aad and checks the blob: it opens to the plaintext for the
// same aad only; with any one byte changed, cut short, or for another aad it does not open;
// and bytes that were never sealed (garbage) do not open either, without panicking.
func FuzzKeyOpen(f *testing.F) {
	f.Add([]byte("refresh-token"), "session-1", uint(0), byte(1), []byte{})
	f.Add([]byte{}, "", uint(5), byte(0x80), []byte{1})
	f.Add([]byte("x"), "lasso sign-in\x00state", uint(40), byte(0xff), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29})
	k := fuzzKey(f)
	f.Fuzz(func(t *testing.T, plaintext []byte, aad string, pos uint, flip byte, garbage []byte) {
		blob, err := k.seal(plaintext, aad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.open(blob, aad)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("open(seal(%q)) = %q, %v", plaintext, got, err)
		}
		if _, err := k.open(blob, aad+"x"); err == nil {
			t.Fatal("opened for another aad")
		}
		if flip != 0 {
			tampered := bytes.Clone(blob)
			tampered[pos%uint(len(tampered))] ^= flip
			if _, err := k.open(tampered, aad); err == nil {
				t.Fatalf("opened with byte %d changed", pos%uint(len(tampered)))
			}
		}
		if _, err := k.open(blob[:pos%uint(len(blob))], aad); err == nil {
			t.Fatal("opened cut short")
		}
		if _, err := k.open(garbage, aad); err == nil {
			t.Fatalf("garbage %x opened", garbage)
		}
	})
}

// FuzzLoginCookie checks the pending sign-in cookie: a cookie sealed for a state opens for
// that state to exactly what was sealed, and for no other state; a changed character makes
// it refused; any cookie value at all is refused or opens without panicking; and whatever
// the key seals as a payload (also one the server never writes) parses without panicking
// and, when it parses, seals and opens again to the same sign-in.
func FuzzLoginCookie(f *testing.F) {
	f.Add("state-abcdefghijkl", "nonce", "verifier", "/rooms/1", int64(1_700_000_000_000_000), uint(3), byte('A'), "AAAA", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'n', 1, 'v', 1, '/'})
	f.Add("", "", "", "", int64(0), uint(0), byte(0), "", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add("s", "n", "", "/"+string(make([]byte, 300)), int64(-1), uint(1000), byte('-'), "!!!not base64", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add("s", "n", "v", "/", int64(5), uint(7), byte('z'), "", []byte{2})
	m := &Manager{cfg: Config{Key: fuzzKey(f)}}
	f.Fuzz(func(t *testing.T, state, nonce, verifier, returnTo string, expiry int64, pos uint, with byte, garbage string, payload []byte) {
		p := pendingLogin{Nonce: nonce, Verifier: verifier, ReturnTo: returnTo, ExpiresAt: time.UnixMicro(expiry)}
		value, err := m.sealLogin(state, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.openLogin(state, value)
		switch {
		case len(value) > 4096:
			if err == nil {
				t.Fatalf("a cookie of %d bytes opened", len(value))
			}
		case err != nil:
			t.Fatalf("own cookie refused: %v", err)
		case got.Nonce != p.Nonce || got.Verifier != p.Verifier || got.ReturnTo != p.ReturnTo || !got.ExpiresAt.Equal(p.ExpiresAt):
			t.Fatalf("opened %+v, sealed %+v", got, p)
		}
		if _, err := m.openLogin(state+"x", value); err == nil {
			t.Fatal("opened for another state")
		}
		if len(value) > 0 {
			i := pos % uint(len(value))
			changed := []byte(value)
			changed[i] = with
			// base64url without padding: the last character may carry unused bits, so a
			// change there can decode to the same bytes.
			if dec, err := base64.RawURLEncoding.DecodeString(string(changed)); string(changed) != value && (err != nil || !bytes.Equal(dec, mustDecode(t, value))) {
				if _, err := m.openLogin(state, string(changed)); err == nil {
					t.Fatalf("opened with character %d changed to %q", i, with)
				}
			}
		}
		if got, err := m.openLogin(state, garbage); err == nil {
			t.Fatalf("garbage %q opened as %+v", garbage, got)
		}

		// A payload sealed with the key but not written by sealLogin.
		sealed, err := m.cfg.Key.seal(payload, loginAAD(state))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := m.openLogin(state, base64.RawURLEncoding.EncodeToString(sealed))
		if err != nil {
			return
		}
		again, err := m.sealLogin(state, parsed)
		if err != nil {
			t.Fatal(err)
		}
		back, err := m.openLogin(state, again)
		if err != nil || back != parsed && !(back.Nonce == parsed.Nonce && back.Verifier == parsed.Verifier && back.ReturnTo == parsed.ReturnTo && back.ExpiresAt.Equal(parsed.ExpiresAt)) {
			t.Fatalf("parsed %+v, resealed %+v, %v", parsed, back, err)
		}
	})
}

func mustDecode(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
