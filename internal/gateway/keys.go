package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"

	"github.com/strata-cache/strata/internal/config"
)

// KeyPrefix starts every key NewKey makes, so that a leaked key is easy to
// recognise (and to find with secret scanners).
const KeyPrefix = "sk_"

// keyBytes is the entropy of a key: 256 bits.
const keyBytes = 32

// NewKey returns a new API key, "sk_" followed by 32 random bytes from
// rand in unpadded base64url (46 characters), and its hash as written in
// gateway.keys[].hash. rand is crypto/rand.Reader outside tests.
func NewKey(rand io.Reader) (key, hash string, err error) {
	var b [keyBytes]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", "", err
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, HashKey(key), nil
}

// HashKey returns the hash of key as written in gateway.keys[].hash:
// "sha256:" and the hex SHA-256 of the key's bytes. See Authenticate for
// why a fast hash is right here.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return config.HashPrefix + hex.EncodeToString(sum[:])
}
