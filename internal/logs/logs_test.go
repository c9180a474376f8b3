package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	tlog "go.temporal.io/sdk/log"
)

// root is the repository, two levels up from this package.
const root = "../.."

// zerologFields are the zerolog methods whose first argument is a key.
var zerologFields = map[string]bool{
	"Str": true, "Strs": true, "Int": true, "Int64": true, "Int32": true, "Uint": true, "Uint64": true,
	"Float64": true, "Float32": true, "Bool": true, "Dur": true, "Time": true, "Interface": true,
	"Any": true, "Bytes": true, "RawJSON": true, "Stringer": true, "AnErr": true, "Hex": true,
}

// kvLoggers are the methods of the Temporal SDK's logger (workflow.GetLogger and the like), whose
// arguments after the message alternate keys and values.
var kvLoggers = map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

type use struct{ key, at string }

// keysInSource is every literal log key in the service's Go files (not tests, not the bench,
// soak and example programs, which are tools rather than the service's lines), and every
// duration logged with zerolog's Dur (whose unit a reader cannot tell from the key).
func keysInSource(t *testing.T) (uses []use, durs []string) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case "bench", "soak", "examples", ".tools", "tools", ".git", ".run", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit := func(i int) (string, bool) {
				if i >= len(call.Args) {
					return "", false
				}
				b, ok := call.Args[i].(*ast.BasicLit)
				if !ok || b.Kind != token.STRING {
					return "", false
				}
				s, err := strconv.Unquote(b.Value)
				return s, err == nil
			}
			at := fset.Position(call.Pos()).String()
			switch {
			case zerologFields[sel.Sel.Name]:
				// A zerolog field is chained on an event or context (log.Warn().Str(...));
				// fs.Bool("cascade", ...) on a flag set is not.
				if _, chained := sel.X.(*ast.CallExpr); !chained {
					return true
				}
				if k, ok := lit(0); ok {
					uses = append(uses, use{k, at})
					if sel.Sel.Name == "Dur" {
						durs = append(durs, at)
					}
				}
			case kvLoggers[sel.Sel.Name] && len(call.Args) >= 3 && isGetLogger(sel.X):
				for i := 1; i < len(call.Args); i += 2 {
					if k, ok := lit(i); ok {
						uses = append(uses, use{k, at})
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uses, durs
}

// isGetLogger reports whether x is a call of workflow.GetLogger or activity.GetLogger (the SDK's
// key-value logger), not http.Error or testing's t.Error.
func isGetLogger(x ast.Expr) bool {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "GetLogger"
}

func TestLogKeysAreTheVocabulary(t *testing.T) {
	uses, durs := keysInSource(t)
	seen := map[string]bool{}
	for _, u := range uses {
		seen[u.key] = true
		if !Known(u.key) {
			t.Errorf("%s: log key %q is not in the vocabulary (internal/logs.Keys): use the key it lists for that meaning, or add it there and to docs/operations.md", u.at, u.key)
		}
	}
	for _, at := range durs {
		t.Errorf("%s: a duration logged with Dur: log Float64(\"<name>_ms\", logs.Ms(d)) so its unit is in its key", at)
	}
	// The scan finds the lines it is meant to: the access log's and a workflow's keys.
	for _, k := range []string{"status_code", "duration_ms", "event_id", "wait_ms", "error_class"} {
		if !seen[k] {
			t.Errorf("the source scan found no use of %q: it no longer sees the service's log lines", k)
		}
	}
}

func TestVocabularyIsSnakeCaseAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if !snakeCase.MatchString(k.Name) {
			t.Errorf("key %q is not snake_case", k.Name)
		}
		if seen[k.Name] {
			t.Errorf("key %q is listed twice", k.Name)
		}
		seen[k.Name] = true
		if k.Meaning == "" {
			t.Errorf("key %q says nothing of its meaning", k.Name)
		}
	}
	// One meaning, one key: the names the vocabulary replaced stay out.
	for _, gone := range []string{"status", "duration", "wait", "drain", "statusCode", "err"} {
		if seen[gone] {
			t.Errorf("key %q is back: see the package doc for the key of its meaning", gone)
		}
	}
}

// TestTemporalSDKTags reads the tags the pinned Temporal SDK logs with, from its source in the
// module cache, and checks TemporalLogger names each in the vocabulary.
func TestTemporalSDKTags(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("go list -m go.temporal.io/sdk: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "internal_logging_tags.go"))
	if err != nil {
		t.Fatalf("the SDK's logging tags: %v", err)
	}
	tags := regexp.MustCompile(`(?m)^\s*tag\w+\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(tags) < 20 {
		t.Fatalf("found %d tags in the SDK's internal_logging_tags.go: has the file changed shape?", len(tags))
	}
	for _, m := range tags {
		tag := m[1]
		var v any = "x"
		if strings.HasSuffix(tag, "Duration") {
			v = time.Second
		}
		kv := SDKFields([]any{tag, v})
		if !Known(kv[0].(string)) {
			t.Errorf("the SDK's tag %s is logged as %q, which is not in the vocabulary", tag, kv[0])
		}
	}
}

func TestTemporalLoggerLine(t *testing.T) {
	var buf bytes.Buffer
	l := TemporalLogger(zerolog.New(&buf)).(tlog.WithLogger).With("Namespace", "default", "WorkflowID", "event-1", "RunID", "r1")
	l.Warn("Activity error.", "ActivityType", "Deliver", "Attempt", 3, "EventID", 12, "Error", errors.New("boom"),
		"WorkflowTaskDuration", 1500*time.Microsecond, "event_id", "evt_1")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{
		"level": "warn", "message": "Activity error.", "component": "temporal", "namespace": "default",
		"workflow_id": "event-1", "run_id": "r1", "activity_type": "Deliver", "temporal_attempt": 3.0,
		"history_event_id": 12.0, "error": "boom", "workflow_task_duration_ms": 1.5, "event_id": "evt_1",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.Bytes())
		}
	}
	if len(line) != len(want) {
		t.Errorf("line has %d keys, want %d: %s", len(line), len(want), buf.Bytes())
	}
	for k := range line {
		if !Known(k) {
			t.Errorf("key %q is not in the vocabulary", k)
		}
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"WorkflowID": "workflow_id", "TaskFirstEventID": "task_first_event_id", "LinkURL": "link_url",
		"sessionID": "session_id", "Error": "error", "event_id": "event_id", "PayloadSizeLimit": "payload_size_limit",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDocsListTheVocabulary keeps docs/operations.md's table of log keys the same as Keys.
func TestDocsListTheVocabulary(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## Logs\n")
	if i < 0 {
		t.Fatal("docs/operations.md has no ## Logs section")
	}
	sec = sec[i+1:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|").FindAllStringSubmatch(sec, -1) {
		documented[m[1]] = true
	}
	for _, k := range Keys {
		if !documented[k.Name] {
			t.Errorf("docs/operations.md's Logs table lacks `%s`", k.Name)
		}
		delete(documented, k.Name)
	}
	for k := range documented {
		t.Errorf("docs/operations.md's Logs table lists `%s`, which is not in the vocabulary", k)
	}
}
