package pcx

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u, so IDs survive being
// read aloud or retyped, and it sorts in the same order as the values it encodes.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new identifier "<kind>_<26 chars>": a 48-bit millisecond timestamp followed by
// 80 random bits, ULID-style. IDs of one kind sort by creation time, which lets lists return
// newest first straight from a DynamoDB sort key without a second index.
func NewID(kind string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (it panics itself from Go 1.24).
		panic(err)
	}
	return kind + "_" + encodeULID(b)
}

// encodeULID encodes 128 bits as 26 base32 characters, most significant first.
func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
