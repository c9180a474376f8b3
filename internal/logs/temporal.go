package logs

import (
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"
	tlog "go.temporal.io/sdk/log"
)

// TemporalLogger writes the Temporal SDK's lines through zerolog in the service's vocabulary: the
// SDK's CamelCase tags become snake_case (WorkflowID → workflow_id, Error → error, its text),
// the few whose snake_case would mean something else here are renamed (EventID, a history event,
// is history_event_id, not a PCX event_id), and durations are <name>_ms in milliseconds. The SDK
// logs at Info for routine events; they are kept at debug so the service's own lines stay
// readable.
func TemporalLogger(l zerolog.Logger) tlog.Logger {
	return temporalLogger{l.With().Str("component", "temporal").Logger()}
}

type temporalLogger struct{ l zerolog.Logger }

func (t temporalLogger) Debug(msg string, kv ...any) { t.l.Debug().Fields(SDKFields(kv)).Msg(msg) }
func (t temporalLogger) Info(msg string, kv ...any)  { t.l.Debug().Fields(SDKFields(kv)).Msg(msg) }
func (t temporalLogger) Warn(msg string, kv ...any)  { t.l.Warn().Fields(SDKFields(kv)).Msg(msg) }
func (t temporalLogger) Error(msg string, kv ...any) { t.l.Error().Fields(SDKFields(kv)).Msg(msg) }
func (t temporalLogger) With(kv ...any) tlog.Logger {
	return temporalLogger{t.l.With().Fields(SDKFields(kv)).Logger()}
}

// SDKFields is kv, the SDK's alternating keys and values, in the vocabulary. Our own workflow
// code logs through the same logger with keys already in it, which pass unchanged.
func SDKFields(kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			continue
		}
		k, v := SDKKey(k), kv[i+1]
		if d, ok := v.(time.Duration); ok {
			if !strings.HasSuffix(k, "_ms") {
				k += "_ms"
			}
			v = Ms(d)
		}
		out = append(out, k, v)
	}
	return out
}

// SDKKey is the vocabulary's name for a Temporal SDK tag.
func SDKKey(tag string) string {
	if r, ok := sdkRenames[tag]; ok {
		return r
	}
	return snake(tag)
}

// snake turns CamelCase into snake_case, keeping initialisms whole: TaskFirstEventID →
// task_first_event_id, LinkURL → link_url, sessionID → session_id.
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
