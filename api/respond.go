package api

import "time"

// Timestamp is a time as the API writes it: UTC, RFC 3339, always with milliseconds, so every
// timestamp has the same width and sorts as text.
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

// ts converts a time; tsp a possibly nil time (nil stays null).
func ts(t time.Time) Timestamp { return Timestamp(t) }

func tsp(t *time.Time) *Timestamp {
	if t == nil {
		return nil
	}
	v := Timestamp(*t)
	return &v
}
