package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length in bytes of a token-encryption key (AES-256).
const KeySize = 32

// blobVersion leads every sealed blob so that a later format (or key rotation with key ids)
// can be told apart from this one.
const blobVersion = 1

// Key encrypts token blobs at rest with AES-256-GCM. Its String method never shows the key.
type Key struct {
	aead cipher.AEAD
}

// NewKey makes a Key from KeySize raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("auth: key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: key: %w", err)
	}
	return &Key{aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) key of KeySize bytes,
// as given in configuration, e.g. the LASSO_SESSION_KEY environment variable.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return NewKey(raw)
		}
	}
	// The input is deliberately not echoed: it is meant to be a secret.
	return nil, errors.New("auth: key is not valid base64")
}

// GenerateKey returns a new random key, base64-encoded (standard alphabet), for an operator
// to put into configuration.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// LoadOrCreateKeyFile reads the base64 key in the file at path, creating the file with a new
// random key (mode 0600, its folder 0700) when it does not exist. Local mode uses it to keep
// a key in its data folder without asking the user. A key file that other users can read is
// refused, as ssh refuses such private keys.
func LoadOrCreateKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(path); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: read key file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("auth: key file %s: %w", path, err)
	}
	return k, nil
}

func createKeyFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("auth: create key folder: %w", err)
	}
	enc, err := GenerateKey()
	if err != nil {
		return fmt.Errorf("auth: generate key: %w", err)
	}
	// O_EXCL: if another process created the file meanwhile, keep its key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: create key file: %w", err)
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("auth: write key file: %w", err)
	}
	return f.Close()
}

// String never prints key material.
func (k *Key) String() string { return "auth.Key[redacted]" }

// GoString never prints key material.
func (k *Key) GoString() string { return k.String() }

// seal encrypts plaintext and authenticates aad with it, so that a blob opens only where it
// was made for: a token blob's aad is its session's store id (a blob copied into another
// session's row does not decrypt there), a sign-in cookie's is a purpose prefix and its state.
func (k *Key) seal(plaintext []byte, aad string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+k.aead.Overhead())
	out = append(out, blobVersion)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(aad)), nil
}

// open decrypts a blob made by seal with the same aad.
func (k *Key) open(blob []byte, aad string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(blob) < 1+ns+k.aead.Overhead() || blob[0] != blobVersion {
		return nil, errors.New("auth: token blob is malformed")
	}
	pt, err := k.aead.Open(nil, blob[1:1+ns], blob[1+ns:], []byte(aad))
	if err != nil {
		// Wrong key (e.g. rotated without migration) or tampering; either way unusable.
		return nil, errors.New("auth: token blob does not decrypt with this key")
	}
	return pt, nil
}
