package harness

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// Dist summarises durations in milliseconds (to the microsecond) with nearest-rank percentiles:
// the latency figures of the bench and soak reports.
type Dist struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// DistOf summarises ds (which it does not reorder).
func DistOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return Ms(s[min(max(i, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{N: len(s), P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: Ms(s[len(s)-1]), Mean: Ms(sum / time.Duration(len(s)))}
}

// Ms is d in milliseconds, rounded to the microsecond.
func Ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Kernel is the kernel release ("" where there is none).
func Kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// MemTotal is the machine's memory as /proc/meminfo says it ("16318844 kB").
func MemTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// Output runs a command for at most 20 seconds in the repository root and returns its output
// (standard output and error) as is.
func Output(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if root, err := testenv.RepoRoot(); err == nil {
		cmd.Dir = root
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return out.String()
}

// FirstLine is the first line of s, trimmed.
func FirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// JavaVersion is the first line of `java -version` (DynamoDB Local's runtime), "" without java.
func JavaVersion() string { return FirstLine(Output("java", "-version")) }

// TemporalVersion is what the Temporal CLI of the dev server says with --version, and its path
// ("" where it is missing).
func TemporalVersion() (version, bin string) {
	bin, err := testenv.TemporalBin()
	if err != nil {
		return "", ""
	}
	return strings.TrimSpace(Output(bin, "--version")), bin
}
