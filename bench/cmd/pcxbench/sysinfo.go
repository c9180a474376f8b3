package main

import (
	"bytes"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.MemTotal = harness.MemTotal()
	if k := harness.Kernel(); k != "" {
		m.Kernel = "Linux " + k
	}
	return m
}

// output runs a command briefly and returns its trimmed output.
func output(name string, args ...string) string {
	return strings.TrimSpace(harness.Output(name, args...))
}

func versionInfo() Versions {
	v := Versions{Go: runtime.Version(), Service: app.Version}
	if ver, bin := harness.TemporalVersion(); bin != "" {
		v.Temporal = ver
		// `go install` builds report 0.0.0-DEV: read the CLI's module version from the binary.
		for _, line := range strings.Split(output("go", "version", "-m", bin), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/temporalio/cli" {
				v.TemporalCLI = f[2]
			}
		}
	}
	v.Java = harness.JavaVersion()
	return v
}

var ddbVersion = regexp.MustCompile(`(?i)version:\s*(\S.*)`)

// dynamoVersion reads DynamoDB Local's version from its start-up log ("Version: ..."), or the
// name of its directory in the npm package.
func dynamoVersion(logPath string) string {
	if b, err := os.ReadFile(logPath); err == nil {
		if m := ddbVersion.FindSubmatch(b); m != nil {
			return strings.TrimSpace(string(m[1]))
		}
	}
	if d, err := testenv.DynamoDBLocalDir(); err == nil {
		return d[strings.LastIndex(d, "/")+1:] + " (jar directory)"
	}
	return "unknown"
}

func gitInfo() Git {
	g := Git{Commit: output("git", "rev-parse", "HEAD"), Describe: output("git", "describe", "--tags", "--always", "--dirty")}
	for _, line := range strings.Split(harness.Output("git", "status", "--porcelain"), "\n") {
		if len(line) > 3 {
			p := strings.TrimSpace(line[3:])
			if strings.HasPrefix(p, "bench/") {
				continue // the harness and its results
			}
			g.Changed = append(g.Changed, p)
		}
	}
	g.Dirty = len(g.Changed) > 0
	return g
}

// clkTck is the kernel's clock tick (USER_HZ): 100 on every Linux Go supports.
const clkTck = 100

// cpuSeconds reads the user+system CPU time of pid (all its threads) from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / clkTck, true
}

// cpuSnapshot is the CPU time of each process at one moment.
type cpuSnapshot struct {
	at  time.Time
	sec map[string]float64
}

// cpuShare is the CPU each process used between two snapshots, in percent of one core (100 =
// one core busy all the time), plus "total" and the machine's idle share.
func cpuShare(a, b cpuSnapshot) map[string]float64 {
	d := b.at.Sub(a.at).Seconds()
	out := map[string]float64{}
	if d <= 0 {
		return out
	}
	var total float64
	for name, v1 := range b.sec {
		if v0, ok := a.sec[name]; ok && !strings.HasPrefix(name, "machine") {
			out[name] = round((v1-v0)/d*100, 1)
			total += v1 - v0
		}
	}
	if q0, ok := a.sec["machine-irq"]; ok {
		out["irq"] = round((b.sec["machine-irq"]-q0)/d*100, 1)
	}
	if i0, ok := a.sec["machine-idle"]; ok {
		out["machine-idle"] = round((b.sec["machine-idle"]-i0)/d*100, 1)
	}
	if b0, ok := a.sec["machine-busy"]; ok {
		out["machine-busy"] = round((b.sec["machine-busy"]-b0)/d*100, 1)
	}
	out["total-of-these"] = round(total/d*100, 1)
	if busy, ok := out["machine-busy"]; ok {
		out["others"] = round(max(busy-out["total-of-these"], 0), 1) // other work on the machine (clock-tick rounding can go below 0)
	}
	return out
}

// machineCPU returns the machine's busy (user, system, steal), interrupt (irq, softirq: not
// charged to any process; loopback networking lands there) and idle CPU seconds (all cores) from
// /proc/stat.
func machineCPU() (busy, irq, idle float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	var v [10]float64
	for i := 1; i < len(f) && i <= 10; i++ {
		v[i-1], _ = strconv.ParseFloat(f[i], 64)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	idle = (v[3] + v[4]) / clkTck
	busy = (v[0] + v[1] + v[2] + v[7]) / clkTck
	irq = (v[5] + v[6]) / clkTck
	return busy, irq, idle, true
}
