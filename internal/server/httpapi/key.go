package httpapi

import (
	"fmt"
	"net/url"
	"strings"
)

// decodeKey returns the key named by escaped, the part of the escaped
// request path after "/v1/kv/". It percent-decodes exactly once and nothing
// else: '/' stays '/', "%2F" becomes '/', "%00" a NUL byte, and bytes that
// are not UTF-8 stay as they are. '+' is a literal plus (path, not form,
// encoding). An empty key is ErrEmptyKey; a malformed escape ErrInvalidKey.
func decodeKey(escaped string) (string, error) {
	if escaped == "" {
		return "", fmt.Errorf("%w: name it after %s, e.g. %suser:42", ErrEmptyKey, kvPrefix, kvPrefix)
	}
	if strings.IndexByte(escaped, '%') < 0 {
		return escaped, nil // nothing to decode; no copy
	}
	key, err := url.PathUnescape(escaped)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return key, nil
}

// KeyPath returns the request path of key, "/v1/kv/" followed by the key
// percent-encoded so that decodeKey returns it exactly: '/' and every byte
// outside the unreserved set are escaped, and the keys "." and ".." are
// written as "%2E" and "%2E%2E" so that clients which remove dot segments
// (curl without --path-as-is, browsers) do not change them. Clients such as
// the CLI use it to build URLs.
func KeyPath(key string) string {
	switch key {
	case ".":
		return kvPrefix + "%2E"
	case "..":
		return kvPrefix + "%2E%2E"
	}
	return kvPrefix + url.PathEscape(key)
}
