// Package keyring parses versioned secret keys from configuration, "1:<base64>,2:<base64>", so a
// key can be rotated without downtime: the newest version protects new data while older versions
// still verify or decrypt what they protected.
package keyring

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Keyring holds versioned keys. The zero value holds none.
type Keyring struct {
	keys    map[int][]byte
	current int
}

// Parse reads "version:base64key" entries separated by commas. Versions are positive integers; the
// highest is current. Each key must decode (standard or URL-safe base64, padded or not) to at
// least minLen bytes, and to exactly exactLen bytes when exactLen > 0. Errors name the entry's
// version or position, never the key material.
func Parse(s string, minLen, exactLen int) (*Keyring, error) {
	r := &Keyring{keys: map[int][]byte{}}
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		vs, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("entry %d: want version:base64key", i+1)
		}
		v, err := strconv.Atoi(strings.TrimSpace(vs))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("entry %d: version must be a positive integer", i+1)
		}
		if _, dup := r.keys[v]; dup {
			return nil, fmt.Errorf("version %d appears twice", v)
		}
		key, err := decode(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("version %d: key is not base64", v)
		}
		if len(key) < minLen {
			return nil, fmt.Errorf("version %d: key must be at least %d bytes, got %d", v, minLen, len(key))
		}
		if exactLen > 0 && len(key) != exactLen {
			return nil, fmt.Errorf("version %d: key must be exactly %d bytes, got %d", v, exactLen, len(key))
		}
		r.keys[v] = key
		r.current = max(r.current, v)
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("no key given")
	}
	return r, nil
}

func decode(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

// Current returns the newest version and its key.
func (r *Keyring) Current() (int, []byte) { return r.current, r.keys[r.current] }

// Key returns the key of version v.
func (r *Keyring) Key(v int) ([]byte, bool) {
	k, ok := r.keys[v]
	return k, ok
}

// Versions returns the versions held, oldest first.
func (r *Keyring) Versions() []int {
	vs := make([]int, 0, len(r.keys))
	for v := range r.keys {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}
